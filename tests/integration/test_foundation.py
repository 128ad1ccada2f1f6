"""The installed default models load, through the CLI and through the window's start-up."""
import json

from models import bundled


def test_doctor_loads_both_default_models(cli, default_chat_path):
    result = cli("doctor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_kind = {m["kind"]: m for m in report["models"]}
    assert by_kind["chat"]["ok"] and by_kind["chat"]["name"] == bundled.CHAT_NAME
    assert by_kind["chat"]["sample"].strip()
    assert by_kind["encoder"]["ok"] and by_kind["encoder"]["embedding_dim"] == 384
    assert report["torch"] and report["transformers"]


def test_models_list_cli(cli):
    result = cli("models", "list", "--json")
    assert result.returncode == 0, result.stderr
    names = {e["name"] for e in json.loads(result.stdout)}
    assert {bundled.CHAT_NAME, bundled.ENCODER_NAME} <= names


def test_cli_import_error_is_one_line_and_nonzero(cli, tmp_path):
    result = cli("models", "import", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no config.json" in result.stderr


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("fireside ")


def test_window_start_up_prepares_default_models(main_window, qtbot, default_chat_path):
    op = main_window.start_background_preparation()
    qtbot.waitUntil(lambda: "ready" in main_window.status_label.text(), timeout=120_000)
    assert op is main_window.startup_op
    assert not main_window.status_progress.isVisible()


def test_generator_answers(chat_generator):
    from models.generation import GenerationSettings

    ids = chat_generator.chat_prompt_ids([{"role": "user", "content": "Name the capital of France."}])
    result = chat_generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=16))
    assert "Paris" in result.text
    assert result.stats.new_tokens > 0 and result.stats.prompt_tokens == len(ids)
