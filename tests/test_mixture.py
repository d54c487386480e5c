"""dataset=mixture: weights realised within binomial error, held-out splits per component,
clear errors, and a 2-step tiny-random run that reports each component and fingerprints it."""

from __future__ import annotations

import json
import math
import re

import pytest

from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.data.load import load_splits
from medft.data.mixture import MixtureError, mixture_stats


def write_mc_jsonl(path, n: int):
    """n distinct 4-option questions (made-up drug/dose facts; distinct so no split shares a question)."""
    lines = []
    for i in range(n):
        options = [f"{i + k} mg of compound {k}" for k in range(4)]
        lines.append(
            json.dumps(
                {
                    "question": f"What dose of agent number {i} is given to patient group {i % 7}?",
                    "options": options,
                    "answer": i % 4,
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def components(jsonl, builtin_weight=0.7, jsonl_weight=0.3, **jsonl_keys):
    extra = "".join(f", {k}: {v}" for k, v in jsonl_keys.items())
    return (
        f"dataset.components=[{{name: builtin, weight: {builtin_weight}}}, "
        f"{{name: jsonl, weight: {jsonl_weight}, path: '{jsonl}'{extra}}}]"
    )


@pytest.fixture
def jsonl(tmp_path):
    return write_mc_jsonl(tmp_path / "mc.jsonl", 600)  # 480 train records after the 10% / 10% split


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_two_dataset_mixture_realises_its_weights_within_binomial_error(compose, jsonl, seed):
    # N draws before any component runs out are i.i.d. (interleave_datasets draws a component per
    # record), so the jsonl count is Binomial(N, 0.3): sd = sqrt(400 x 0.3 x 0.7) = 9.2, 4 sd = 36.7.
    n, p = 400, 0.3
    cfg = compose(["dataset=mixture", components(jsonl), f"dataset.max_samples={n}", f"dataset.split_seed={seed}"])
    splits = load_splits(cfg.dataset)
    labels = [r.metadata["component"] for r in splits["train"]]
    assert len(labels) == n
    available = {"builtin": len(load_splits(compose([]).dataset)["train"]), "jsonl": 480}
    realised = {name: labels.count(name) for name in available}
    assert all(realised[name] < available[name] for name in available)  # nobody ran out: the binomial holds
    tolerance = 4 * math.sqrt(n * p * (1 - p))
    assert abs(realised["jsonl"] - n * p) <= tolerance, (realised, tolerance)
    stats = mixture_stats(cfg.dataset, splits)
    by_label = {c["label"]: c for c in stats["components"]}
    assert by_label["jsonl"]["train"] == realised["jsonl"] and by_label["jsonl"]["weight_share"] == pytest.approx(p)
    assert abs(by_label["jsonl"]["train_sigma"]) <= 4
    assert by_label["jsonl"]["train_sigma"] == pytest.approx((realised["jsonl"] - n * p) / math.sqrt(n * p * (1 - p)))


def test_weights_are_normalised_and_the_draw_is_seeded(compose, jsonl):
    first = load_splits(compose(["dataset=mixture", components(jsonl, 7, 3), "dataset.max_samples=100"]).dataset)
    again = load_splits(compose(["dataset=mixture", components(jsonl, 0.7, 0.3), "dataset.max_samples=100"]).dataset)
    other = load_splits(
        compose(
            ["dataset=mixture", components(jsonl, 0.7, 0.3), "dataset.max_samples=100", "dataset.split_seed=5"]
        ).dataset
    )
    assert [r.question for r in first["train"]] == [r.question for r in again["train"]]
    assert [r.question for r in first["train"]] != [r.question for r in other["train"]]


def test_first_exhausted_stops_when_the_smallest_share_runs_out_and_repeats_nothing(compose, tmp_path):
    small = write_mc_jsonl(tmp_path / "small.jsonl", 50)  # 40 train records at weight 0.5: runs out first
    splits = load_splits(compose(["dataset=mixture", components(small, 0.5, 0.5)]).dataset)
    train = splits["train"]
    labels = [r.metadata["component"] for r in train]
    assert labels.count("jsonl") == 40 and labels[-1] == "jsonl"  # stopped right after its last record
    keys = [(r.question, r.answer, r.metadata["component"]) for r in train]
    assert len(set(keys)) == len(keys)


def test_held_out_splits_keep_each_component_whole_and_alternate(compose, jsonl):
    cfg = compose(["dataset=mixture", components(jsonl), "dataset.max_samples=50"])
    splits = load_splits(cfg.dataset)
    builtin = load_splits(compose([]).dataset)
    test_labels = [r.metadata["component"] for r in splits["test"]]
    assert test_labels.count("jsonl") == 60 and test_labels.count("builtin") == len(builtin["test"])
    assert test_labels[:6] == ["builtin", "jsonl"] * 3  # an eval_limit takes a share of each
    assert [r.question for r in splits["test"] if r.metadata["component"] == "builtin"] == [
        r.question for r in builtin["test"]
    ]
    assert {r.metadata["component"] for r in splits["control"]} == {"builtin"}


def test_a_component_takes_its_own_option_keys(compose, jsonl):
    cfg = compose(["dataset=mixture", components(jsonl, max_samples=10, eval_limit=5, label="dosing")])
    splits = load_splits(cfg.dataset)
    labels = [r.metadata["component"] for r in splits["train"]]
    assert labels.count("dosing") == 10  # capped, so it ran out first
    assert [r.metadata["component"] for r in splits["test"]].count("dosing") == 5


@pytest.mark.parametrize(
    "spec,message",
    [
        ("[{name: builtin, weight: 1}, {name: bultin, weight: 1}]", "dataset.components[1].name='bultin'"),
        (
            "[{name: builtin, weight: 0}, {name: builtin, weight: 0, label: b}]",
            "sum to 0.0: at least one must be positive",
        ),
        ("[{name: builtin, weight: 1}, {name: builtin, weight: -1, label: b}]", "dataset.components[1].weight=-1"),
        ("[{name: builtin, weight: 1}, {name: builtin, weight: x, label: b}]", "dataset.components[1].weight='x'"),
        ("[{name: builtin, weight: 1}]", "at least two dataset.components"),
        ("[{name: builtin, weight: 1}, {name: builtin, weight: 1}]", "share the label"),
        ("[{name: builtin, weight: 1}, {name: mixture, weight: 1}]", "mixtures do not nest"),
        (
            "[{name: builtin, weight: 1}, {name: builtin, weight: 1, label: b, rnak: 3}]",
            "dataset.components[1] (builtin): Key 'rnak' not in",
        ),
    ],
)
def test_bad_components_fail_before_loading_naming_the_component(compose, spec, message):
    cfg = compose(["dataset=mixture", f"dataset.components={spec}"])
    with pytest.raises(MixtureError, match=re.escape(message)):
        validate(cfg)


def test_missing_components_say_how_to_give_them(compose):
    with pytest.raises(
        MixtureError,
        match=r"needs at least two dataset\.components \(got 0\), e\.g\. dataset\.components=\[\{name: builtin",
    ):
        validate(compose(["dataset=mixture"]))


def test_each_component_gets_the_single_dataset_rules(compose, tmp_path):
    cfg = compose(["dataset=mixture", components(tmp_path / "absent.jsonl")])
    with pytest.raises(ConfigError, match=r"dataset\.components\[1\] \(jsonl\): dataset\.path: no such file"):
        validate(cfg)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n')
    cfg = compose(
        [
            "dataset=mixture",
            f"dataset.components=[{{name: builtin, weight: 1}}, "
            f"{{name: preference_jsonl, weight: 1, path: '{pairs}'}}]",
        ]
    )
    with pytest.raises(ConfigError, match=r"components\[1\] \(preference_jsonl\): dataset=preference_jsonl holds"):
        validate(cfg)


def test_a_component_without_a_train_split_is_named(compose, jsonl):
    cfg = compose(["dataset=mixture", components(jsonl, max_samples=0)])
    with pytest.raises(
        MixtureError, match=r"dataset\.components\[1\] \(jsonl\): dataset 'jsonl' has no training records"
    ):
        load_splits(cfg.dataset)


def test_two_step_mixture_run_reports_each_component(tiny_cfg, tmp_path, jsonl):
    from medft.recipes.train import run

    cfg = tiny_cfg("dataset=mixture", components(jsonl), "training.max_seq_len=320")  # tiny-random counts bytes
    run_dir = tmp_path / "run"
    metrics = run(cfg, run_dir)
    assert metrics["train"]["steps"] == 2
    for phase in ("eval_before", "eval_after"):
        mixed, parts = metrics[phase]["test"], [metrics[phase]["test:builtin"], metrics[phase]["test:jsonl"]]
        assert mixed["n"] == 12 and [p["n"] for p in parts] == [6, 6]  # eval_limit 12, alternating
        assert mixed["acc"] == pytest.approx(sum(p["acc"] * p["n"] for p in parts) / 12)
    assert "test:jsonl" in metrics["paired"]
    stats = json.loads((run_dir / "data_stats.json").read_text())["mixture"]
    assert stats["train_records"] == 64 == sum(c["train"] for c in stats["components"])
    manifest = json.loads((run_dir / "manifest.json").read_text())["data"]
    assert set(manifest["components"]) == {"builtin", "jsonl"}
    assert manifest["components"]["jsonl"]["sizes"]["train"] == next(
        c["train"] for c in stats["components"] if c["label"] == "jsonl"
    )
    assert len({c["fingerprint"] for c in manifest["components"].values()} | {manifest["fingerprint"]}) == 3
