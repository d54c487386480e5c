"""ONNX export of a merged checkpoint (torch.onnx) and an onnxruntime runner for it.

optimum's exporter would pin transformers 4.x (optimum 2.1 requires transformers < 5), so the
graph is traced here with torch.onnx's TorchScript exporter: one graph from (input_ids,
attention_mask) to the logits of every position, dynamic batch and sequence axes, no KV cache.
That is what scoring and the export check need; generation runs it once per new token (slower
than a cached decoder, which is why serving should prefer GGUF). Eager attention is traced
because PyTorch's fused SDPA kernel has no ONNX form in the TorchScript exporter.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask")


def _logits_module(model):
    import torch

    class Logits(torch.nn.Module):
        """forward(input_ids, attention_mask) -> logits, without the cache a traced graph cannot carry."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    return Logits(model)


def export_onnx(checkpoint: Path, out: Path, opset: int = 17) -> Path:
    """Trace the merged checkpoint in `checkpoint` into out/model.onnx; returns the file."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32, attn_implementation="eager").eval()
    example = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    out.mkdir(parents=True, exist_ok=True)
    target = out / ONNX_FILE
    axes = {"batch": 0, "sequence": 1}
    dynamic = {name: {i: n for n, i in axes.items()} for name in (*INPUTS, "logits")}
    with torch.no_grad():
        torch.onnx.export(
            _logits_module(model),
            (example, torch.ones_like(example)),
            str(target),
            input_names=list(INPUTS),
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
    log.info("Wrote %s (%.1f MB)", target, target.stat().st_size / 2**20)
    return target


class OnnxCausalLM:
    """onnxruntime on an exported folder: `logits(ids)` for a [batch, seq] int array."""

    def __init__(self, folder: str | Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(Path(folder) / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )

    def logits(self, input_ids, attention_mask=None):
        import numpy as np

        ids = np.asarray(input_ids, dtype=np.int64)
        if ids.ndim == 1:
            ids = ids[None]
        mask = np.ones_like(ids) if attention_mask is None else np.asarray(attention_mask, dtype=np.int64)
        return self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]


def check_against_torch(checkpoint: Path, folder: Path, tokenizer, text: str) -> dict:
    """Max abs logit difference and top-1 agreement of onnxruntime vs PyTorch on one text."""
    import torch
    from transformers import AutoModelForCausalLM

    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    with torch.no_grad():
        reference = model(input_ids=ids).logits[0].numpy()
    got = OnnxCausalLM(folder).logits(ids.numpy())[0]
    return {
        "positions": int(ids.shape[1]),
        "max_abs_logit_diff": float(abs(got - reference).max()),
        "top1_agreement": float((got.argmax(-1) == reference.argmax(-1)).mean()),
    }
