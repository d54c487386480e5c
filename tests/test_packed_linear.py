"""oneDNN pre-packed linear weights (medft/models/packed_linear.py): the same numbers, only while valid."""

from __future__ import annotations

import pytest
import torch

from medft import builders
from medft.evaluation.loglikelihood import Request, continuation_logprobs
from medft.models import packed_linear
from medft.models.resolve import resolve_model

pytestmark = pytest.mark.skipif(not packed_linear.available(), reason="this PyTorch has no oneDNN linear ops")


def _base(cfg):
    return builders.load_model(cfg, resolve_model(cfg.model, cfg.cache_dir, cfg.seed)).eval()


def _patched(model) -> int:
    return sum("forward" in vars(m) for m in model.modules())


def _requests():
    gen = torch.Generator().manual_seed(0)
    rand = lambda n: torch.randint(3, 200, (n,), generator=gen).tolist()  # noqa: E731
    return [Request(rand(n), [rand(1), rand(3), rand(2)]) for n in (5, 17, 9, 30)]


def test_scoring_with_packed_weights_gives_the_plain_log_likelihoods(tiny_cfg):
    model = _base(tiny_cfg())
    requests = _requests()
    plain = continuation_logprobs(model, requests, pad_id=0, batch_size=3)
    assert packed_linear.enable_for_scoring(model, tiny_cfg().hardware) is True
    setattr(model, packed_linear.MARK, packed_linear.ALWAYS)  # every layer, whatever the timing says here
    seen = []
    original = torch.ops.mkldnn._linear_pointwise
    packed = continuation_logprobs(model, requests, pad_id=0, batch_size=3)
    assert [x for row in packed for x in row] == pytest.approx([x for row in plain for x in row], abs=1e-5)
    assert _patched(model) == 0, "every layer is back on nn.Linear.forward after scoring"
    # The packed op really ran: count its calls through the patched forwards of one scoring pass.
    with packed_linear.packed_linear_weights(model):
        n_linear = _patched(model)
        assert n_linear == sum(type(m) is torch.nn.Linear for m in model.modules())
        torch.ops.mkldnn._linear_pointwise = lambda *a: seen.append(1) or original(*a)
        try:
            with torch.no_grad():
                model(input_ids=torch.tensor([[5, 6, 7]]))
        finally:
            torch.ops.mkldnn._linear_pointwise = original
    assert len(seen) == n_linear


def test_an_unmarked_model_or_the_switch_off_packs_nothing(tiny_cfg):
    model = _base(tiny_cfg())
    with packed_linear.packed_linear_weights(model):
        assert _patched(model) == 0
    assert packed_linear.enable_for_scoring(model, tiny_cfg("hardware.packed_linear=false").hardware) is False
    with packed_linear.packed_linear_weights(model):
        assert _patched(model) == 0


def test_only_shapes_timed_faster_packed_are_packed(tiny_cfg, monkeypatch):
    """The timing decides per layer shape: here the 64->64 layers (q, o) time faster packed, the rest not."""
    model = _base(tiny_cfg())
    packed_linear.enable_for_scoring(model, tiny_cfg().hardware)
    timed = []
    monkeypatch.setattr(packed_linear, "_faster", {})
    monkeypatch.setattr(
        packed_linear,
        "_packed_speedup",
        lambda n_in, n_out: timed.append((n_in, n_out)) or (1.3 if n_in == n_out else 0.9),
    )
    with packed_linear.packed_linear_weights(model):
        packed = {(m.in_features, m.out_features) for m in model.modules() if "forward" in vars(m)}
    linear = {(m.in_features, m.out_features) for m in model.modules() if type(m) is torch.nn.Linear}
    assert packed == {shape for shape in linear if shape[0] == shape[1]} and packed != linear
    with packed_linear.packed_linear_weights(model):  # timed once per shape and process
        pass
    assert sorted(timed) == sorted(linear)


def test_the_timing_compares_the_two_products_at_a_real_shape():
    gain = packed_linear._packed_speedup(64, 128)
    assert 0.05 < gain < 20  # a ratio of two measured times, not a constant


def test_with_gradients_on_the_plain_path_runs_and_gradients_flow(tiny_cfg):
    model = _base(tiny_cfg())
    packed_linear.enable_for_scoring(model, tiny_cfg().hardware)
    setattr(model, packed_linear.MARK, packed_linear.ALWAYS)
    ids = torch.tensor([[5, 6, 7, 8]])
    with packed_linear.packed_linear_weights(model):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)


def test_quantized_and_subclassed_linears_are_left_alone():
    class Other(torch.nn.Linear):  # what bitsandbytes' Linear4bit / Linear8bitLt are
        pass

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), Other(4, 4), torch.nn.Linear(4, 4).double())
    setattr(model, packed_linear.MARK, packed_linear.ALWAYS)
    with packed_linear.packed_linear_weights(model):
        assert ["forward" in vars(m) for m in model] == [True, False, False]
