"""Ollama's Modelfile for an exported GGUF: FROM, TEMPLATE, SYSTEM, PARAMETER and stop lines.

Ollama templates are Go templates, chat templates are Jinja; no general translation exists, so the
common template families are recognised by their markers and written as Ollama's equivalent. For any
other template the Jinja source goes into comments (Ollama then falls back to its own guess from the
GGUF file).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateFamily:
    name: str
    marker: str
    template: str
    stops: tuple[str, ...]


FAMILIES = (
    TemplateFamily(
        "ChatML", "<|im_start|>",
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
        ("<|im_start|>", "<|im_end|>")),
    TemplateFamily(
        "Llama 3", "<|start_header_id|>",
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
        "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
    TemplateFamily(
        "Gemma", "<start_of_turn>",
        "{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}user{{ end }}\n"
        "{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n",
        ("<start_of_turn>", "<end_of_turn>")),
    TemplateFamily(
        "Phi-3", "<|assistant|>",
        "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
        ("<|end|>", "<|user|>", "<|assistant|>")),
    TemplateFamily(
        "Mistral", "[INST]",
        "{{- range .Messages }}{{ if eq .Role \"user\" }}[INST] {{ .Content }} [/INST]"
        "{{ else if eq .Role \"assistant\" }}{{ .Content }}</s>{{ end }}{{ end }}",
        ("[INST]", "[/INST]", "</s>")),
)

# Ollama's parameter for each of Fireside's chat settings (Ollama's own names are accepted too)
PARAMETERS = (
    ("temperature", ("temperature",)),
    ("top_p", ("top_p",)),
    ("top_k", ("top_k",)),
    ("repeat_penalty", ("repetition_penalty", "repeat_penalty")),
    ("num_predict", ("max_new_tokens", "num_predict")),
    ("num_ctx", ("context_length", "num_ctx")),
    ("seed", ("seed",)),
)

# A fixed system message a ChatML template inserts when the conversation has none.
DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system(?:\n|\\n)([^{}<'\"]+?)<\|im_end\|>")


def template_family(chat_template: str | None) -> TemplateFamily | None:
    if not chat_template:
        return None
    return next((f for f in FAMILIES if f.marker in chat_template), None)


def default_system_prompt(chat_template: str | None) -> str | None:
    match = DEFAULT_SYSTEM.search(chat_template or "")
    return match.group(1).strip() if match else None


def _quoted(text: str) -> str | None:
    return None if '"""' in text else f'"""{text}"""'


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def modelfile_text(gguf_name: str, chat_template: str | None, settings: dict | None = None,
                   end_token: str | None = None) -> str:
    """The Modelfile for `gguf_name` (a file in the same folder)."""
    settings = settings or {}
    lines = ["# Made by Fireside. Create the Ollama model with:  ollama create NAME -f Modelfile",
             f"FROM ./{gguf_name}", ""]
    family = template_family(chat_template)
    template = _quoted(family.template) if family else None
    if template:
        lines += [f"# chat template: {family.name} (translated from the model's Jinja template)",
                  f"TEMPLATE {template}", ""]
    elif chat_template:
        lines.append("# The model's chat template (Jinja) has no Ollama translation here; Ollama guesses one from "
                     "the GGUF file. The original:")
        lines += [f"#   {line}" for line in chat_template.splitlines()]
        lines.append("")
    system = settings.get("system_prompt") or settings.get("system") or default_system_prompt(chat_template)
    if system and (quoted := _quoted(str(system))):
        lines += [f"SYSTEM {quoted}", ""]
    for name, keys in PARAMETERS:
        value = next((settings[k] for k in keys if settings.get(k) is not None), None)
        if value is not None:
            lines.append(f"PARAMETER {name} {_value(value)}")
    stops = list(family.stops) if template else []
    if end_token and end_token not in stops:
        stops.append(end_token)
    lines += [f'PARAMETER stop "{stop}"' for stop in stops if '"' not in stop]
    return "\n".join(lines).rstrip() + "\n"
