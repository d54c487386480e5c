"""An Ollama Modelfile for a GGUF export: the chat template in Ollama's Go-template form, stop
tokens, the system prompt the run trained with, and sampling PARAMETERs.

Ollama templates are Go templates, not the tokenizer's Jinja, and no library translates one into
the other, so the known turn formats are written here by hand, each chosen by the marker tokens
in the model's own template. For any other template the Modelfile carries no TEMPLATE line and
Ollama falls back to the template embedded in the GGUF (logged as a warning).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnFormat:
    marker: str  # a token only this family's template contains
    template: str  # Ollama Go template
    stops: tuple[str, ...]


TURN_FORMATS = {
    "chatml": TurnFormat(
        "<|im_start|>",
        (
            "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
            '{{- range .Messages }}{{- if ne .Role "system" }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n'
            "{{ end }}{{- end }}<|im_start|>assistant\n"
        ),
        ("<|im_end|>", "<|im_start|>"),
    ),
    # Gemma has no system role: the system text opens the first user turn (as GEMMA_TEMPLATE does).
    "gemma": TurnFormat(
        "<start_of_turn>",
        (
            '{{- range $i, $m := .Messages }}{{- if eq $m.Role "user" }}<start_of_turn>user\n'
            "{{ if and (eq $i 0) $.System }}{{ $.System }}\n\n{{ end }}{{ $m.Content }}<end_of_turn>\n"
            '{{- else if eq $m.Role "assistant" }}<start_of_turn>model\n{{ $m.Content }}<end_of_turn>\n'
            "{{- end }}{{- end }}<start_of_turn>model\n"
        ),
        ("<end_of_turn>",),
    ),
    "llama3": TurnFormat(
        "<|start_header_id|>",
        (
            "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
            '{{- range .Messages }}{{- if ne .Role "system" }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n'
            "{{ .Content }}<|eot_id|>{{ end }}{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
        ),
        ("<|eot_id|>",),
    ),
}


def turn_format(chat_template: str | None) -> str | None:
    """The name of the family whose marker the model's Jinja chat template contains, or None."""
    for name, form in TURN_FORMATS.items():
        if chat_template and form.marker in chat_template:
            return name
    return None


def _quoted(text: str) -> str:
    return '"""' + text.replace('"""', '\\"\\"\\"') + '"""'


def modelfile(
    gguf_name: str,
    chat_template: str | None,
    system_prompt: str,
    sampling,
    num_ctx: int,
    eos_token: str | None = None,
    adapter_name: str | None = None,
) -> str:
    """The Modelfile text. `adapter_name`: FROM is then the base GGUF and ADAPTER the LoRA GGUF."""
    family = turn_format(chat_template)
    lines = [
        "# Ollama Modelfile written by medft. Research use only: not a medical device, not medical advice.",
        "# ollama create <name> -f Modelfile && ollama run <name>",
        f"FROM ./{gguf_name}",
    ]
    if adapter_name:
        lines.append(f"ADAPTER ./{adapter_name}")
    stops = list(TURN_FORMATS[family].stops) if family else []
    if family:
        lines.append(f"TEMPLATE {_quoted(TURN_FORMATS[family].template)}")
    else:
        log.warning("chat template of no known family: the Modelfile has no TEMPLATE; Ollama uses the GGUF's own")
    if eos_token and eos_token not in stops:
        stops.append(eos_token)
    lines.append(f"SYSTEM {_quoted(system_prompt)}")
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    # Ollama always samples; temperature 0 is its greedy decoding.
    lines.append(f"PARAMETER temperature {sampling.temperature if sampling.do_sample else 0}")
    lines += [
        f"PARAMETER top_p {sampling.top_p}",
        f"PARAMETER repeat_penalty {sampling.repetition_penalty}",
        f"PARAMETER num_predict {sampling.max_new_tokens}",
        f"PARAMETER num_ctx {num_ctx}",
        f"PARAMETER seed {sampling.seed}",
    ]
    return "\n".join(lines) + "\n"
