"""bf16 autocast on CPUs that have bf16 units (medft.hardware.device.cpu_autocast): detected from the
CPU flags, confirmed by a measurement, off everywhere else; the cpu profile resolves it once."""

from __future__ import annotations

import pytest

from medft.builders import training_arguments
from medft.hardware.device import cpu_autocast, cpu_flags, has_bf16_units
from medft.hardware.environment import check_environment

NO_BF16 = {"fpu", "sse4_2", "avx", "avx2", "fma"}  # e.g. this project's 2-core EPYC: no AVX-512 at all
AVX512_BF16 = NO_BF16 | {"avx512f", "avx512bw", "avx512_bf16"}  # a Zen 4 EPYC or a Cooper Lake Xeon
AMX = NO_BF16 | {"avx512f", "amx_tile", "amx_bf16"}  # a Sapphire Rapids Xeon


def test_flags_decide_whether_bf16_units_exist():
    assert not has_bf16_units(NO_BF16)
    assert not has_bf16_units(NO_BF16 | {"avx512f", "avx512bw"})  # AVX-512 without its bf16 extension
    assert has_bf16_units(AVX512_BF16) and has_bf16_units(AMX)


def test_auto_is_off_without_bf16_flags_and_times_nothing():
    timed = []
    choice, why = cpu_autocast("auto", NO_BF16, lambda dtype: timed.append(dtype) or 0.5)
    assert choice == "off" and "avx512_bf16" in why and timed == []


@pytest.mark.parametrize("flags", [AVX512_BF16, AMX])
def test_auto_is_bf16_with_the_flags_only_when_bf16_measures_faster(flags):
    assert cpu_autocast("auto", flags, lambda dtype: 0.48)[0] == "bf16"  # 2.1x, as measured on an avx512_bf16 EPYC
    assert cpu_autocast("auto", flags, lambda dtype: 1.3)[0] == "off"  # flags present, kernels not using them


def test_forced_choices_pass_through():
    assert cpu_autocast("off", AVX512_BF16)[0] == "off"
    assert cpu_autocast("bf16", NO_BF16)[0] == "bf16"


def test_this_machine_resolves_by_its_own_flags(compose, tmp_path):
    cfg = compose(["model=tiny-random"])
    assert cfg.hardware.autocast == "auto" and cfg.hardware.precision == "fp32"  # the cpu profile asks
    check_environment(cfg)
    expected = "bf16" if has_bf16_units(cpu_flags()) else "off"
    if expected == "bf16":  # flags present: the measurement decides
        assert cfg.hardware.autocast in ("bf16", "off")
    else:
        assert cfg.hardware.autocast == "off"
    args = training_arguments(cfg, tmp_path, 1)
    assert args["bf16"] is (cfg.hardware.autocast == "bf16") and cfg.hardware.precision == "fp32"  # fp32 master weights
    assert training_arguments(compose(["hardware.autocast=bf16"]), tmp_path, 1)["bf16"] is True
