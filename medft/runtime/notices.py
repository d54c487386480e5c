"""Silence third-party notices a medft user cannot act on, each one narrowly (its message, category or
logger), never warnings as a whole: anything else a library says still reaches the console and train.log.

Installed at the start of a command, before transformers (and with it bitsandbytes) is imported.
"""

from __future__ import annotations

import logging
import warnings

# bitsandbytes (0.50) logs this at import time on CPUs with AVX512-BF16 when the optional `kernels`
# package cannot fetch its 4-bit CPU kernel from the Hub. transformers and peft import bitsandbytes on
# every run, so runs that quantize nothing print it too; a 4-bit run keeps it (there it names a speed-up).
BNB_LOGGER = "bitsandbytes.backends.cpu.ops"
BNB_KERNELS_NOTICE = "Failed to load CPU gemm_4bit_forward from kernels-community"

# bitsandbytes (0.50) logs this on every forward of every 8-bit layer when its input is not fp16 (an fp32
# CPU run: ~8,000 lines a short int8 run). Said once per process it still tells what happens.
BNB_MATMUL_LOGGER = "bitsandbytes.autograd._functions"
BNB_INT8_CAST_NOTICE = "MatMul8bitLt: inputs will be cast"

# peft's get_peft_model reads `model.is_gradient_checkpointing`, which transformers 5 deprecates in
# favour of `is_activation_checkpointing`: printed on every adapter run, fixed only by a peft release.
PEFT_CHECKPOINTING_NOTICE = r"`is_gradient_checkpointing` is deprecated"


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


class _OnceMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix, self.seen = prefix, False

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.prefix):
            return True
        first, self.seen = not self.seen, True
        return first


_bnb_kernels_filter = _DropMessage(BNB_KERNELS_NOTICE)
_bnb_int8_cast_once = _OnceMessage(BNB_INT8_CAST_NOTICE)


def silence_unactionable_notices(quantization: str) -> None:
    """`quantization`: the run's quantization method ("none" for a run that loads no 4/8-bit weights)."""
    warnings.filterwarnings(
        "ignore", message=PEFT_CHECKPOINTING_NOTICE, category=FutureWarning, module=r"transformers\.modeling_utils"
    )
    logging.getLogger(BNB_MATMUL_LOGGER).addFilter(_bnb_int8_cast_once)  # idempotent: one filter object
    bnb_logger = logging.getLogger(BNB_LOGGER)  # the same object bitsandbytes logs through, imported or not
    if quantization == "none":
        bnb_logger.addFilter(_bnb_kernels_filter)  # idempotent: one filter object
    else:
        bnb_logger.removeFilter(_bnb_kernels_filter)
