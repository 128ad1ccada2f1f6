"""A model can load while the start-up import of the model stack is still running in another thread.

Each case runs in a fresh interpreter: in the test process transformers is imported long before.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_models import make_tiny_causal_lm

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys, threading, time
from models.loading import import_model_stack

errors = []

def warm_up():
    try:
        import_model_stack()
    except Exception as exc:
        errors.append(f"start-up import: {exc!r}")

def first_load():
    time.sleep(float(sys.argv[2]))
    try:  # as the chat does it: choose a device, then load
        from models.devices import pick_device
        from models.generation import Generator

        Generator.load(sys.argv[1], device=pick_device("auto"))
    except Exception as exc:
        errors.append(f"load: {exc!r}")

threads = [threading.Thread(target=warm_up), threading.Thread(target=first_load)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(errors))
"""


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory):
    return make_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"))


@pytest.mark.parametrize("delay", [0.0, 0.5])
def test_a_load_during_the_start_up_import_succeeds(tiny_chat_model, delay):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_chat_model), str(delay)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
