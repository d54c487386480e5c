"""The linear layers of one decoder block, from `model.arch` alone: what LoRA targets and what the
memory planner (medft.hardware.planner) counts, and what bounds a useful adapter rank (validate)."""

from __future__ import annotations

LLAMA_MLP = ("gate_proj", "up_proj", "down_proj")


def head_dim(arch) -> int:
    return arch.get("head_dim") or arch.hidden_size // arch.n_heads


def llama_shapes(arch) -> dict[str, tuple[int, int]]:
    """(in, out) of each linear layer of one decoder block under Llama's names (Gemma, Qwen, Mistral alike);
    a plain MLP (Phi-2) has no gate."""
    h, i, hd = arch.hidden_size, arch.intermediate_size, head_dim(arch)
    q, kv = arch.n_heads * hd, arch.n_kv_heads * hd
    shapes = {
        "q_proj": (h, q),
        "k_proj": (h, kv),
        "v_proj": (h, kv),
        "o_proj": (q, h),
        "gate_proj": (h, i),
        "up_proj": (h, i),
        "down_proj": (i, h),
    }
    if arch.get("mlp", "gated") == "plain":
        del shapes["gate_proj"]
    return shapes


def linear_shapes(arch) -> dict[str, tuple[int, int]]:
    """The same layers under the model's own module names (what LoRA targets name): `arch.module_roles`
    renames a layer or fuses several into one (ChatGLM's query_key_value = q, k and v side by side)."""
    shapes = llama_shapes(arch)
    for name, roles in (arch.get("module_roles") or {}).items():
        parts = [shapes.pop(role) for role in roles]
        shapes[name] = (parts[0][0], sum(out for _, out in parts))
    return shapes


def targeted_shapes(peft_cfg, model_cfg) -> dict[str, tuple[int, int]]:
    """The shapes of the layers an adapter targets: peft_method.target_modules, else the model's
    lora_target_modules, else every linear layer; names the architecture lacks are left out."""
    shapes = linear_shapes(model_cfg.arch)
    chosen = peft_cfg.get("target_modules") or list(model_cfg.lora_target_modules) or list(shapes)
    if chosen in ("all-linear", ["all-linear"]):
        return shapes
    return {t: shapes[t] for t in chosen if t in shapes}


def layer_count(arch, name: str) -> int:
    """How many times the linear layer `name` (the model's own name) occurs in the model: once per block
    of a decoder-only model; in an encoder-decoder (T5), an attention layer sits in every encoder block
    and twice in every decoder block (self- and cross-attention, same names), an MLP layer once in each."""
    decoder = int(arch.get("n_decoder_layers", 0) or 0)
    if not decoder:
        return arch.n_layers
    roles = (arch.get("module_roles") or {}).get(name, [name])
    in_mlp = all(role in LLAMA_MLP for role in roles)
    return arch.n_layers + decoder * (1 if in_mlp else 2)
