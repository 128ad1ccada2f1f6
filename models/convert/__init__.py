"""Turning Fireside's models into GGUF files that llama.cpp (and LM Studio, Ollama) load.

- `lora_gguf.write_lora_adapter`: a peft LoRA adapter -> a GGUF LoRA adapter applied at load over its base.
- `model_gguf.write_model_gguf`: a transformers safetensors folder -> an F16/BF16/F32 GGUF model.
- `quantize.quantize_gguf`: llama.cpp's own quantizer, run in a child process.
- `export.export_chat_model`: one GGUF file plus an Ollama Modelfile, from any of the above.

Nothing here is imported by the package itself: torch, gguf and llama_cpp load only when a function runs.
"""
