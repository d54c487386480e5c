"""A float64 copy of a model, for measuring how far fp32 evaluations are from the exact answer.

Two fp32 evaluations of the same function (a merged checkpoint, and base + adapter unmerged) each
round differently, so their difference alone cannot say whether the merge is right: it mixes both
paths' rounding. Against float64 each path's own fp32 error shows. A plain `model.double()` is not
float64 throughout: transformers' Llama-style RMSNorm casts its input to float32 and back, rounding
the hidden state to fp32 at every norm, so the copy computes those norms in float64 too.
"""

from __future__ import annotations

import copy
import types


def _rms_norm_float64(self, hidden_states):
    # LlamaRMSNorm.forward without its float32 cast (same formula, same epsilon)
    hidden_states = hidden_states.double()
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * (variance + self.variance_epsilon).rsqrt())


def float64_copy(model):
    """A deep copy of `model` (a PeftModel too) in float64, Llama-style RMSNorms computed in float64.

    Rotary cos/sin stay as transformers computes them (fp32, then cast): the fp32 models use the same
    values, so that rounding is common to every path compared and does not enter a difference.
    """
    double = copy.deepcopy(model).double().eval()
    for module in double.modules():
        if type(module).__name__.endswith("RMSNorm"):
            if not hasattr(module, "variance_epsilon"):  # e.g. Gemma's (1 + weight) form, named eps
                raise NotImplementedError(f"float64_copy knows Llama-style RMSNorm only, not {type(module).__name__}")
            module.forward = types.MethodType(_rms_norm_float64, module)
    return double
