"""dataset=mixture: several dataset choices trained together with sampling weights.

Each component is any other `dataset=` option (its own yaml under conf/dataset/, its own loader,
prompt format and split), plus a weight and, optionally, overrides of that option's keys:

    dataset.components=[{name: builtin, weight: 0.7}, {name: medmcqa, weight: 0.3, path: ..., source_split: validation}]

The training split is drawn with `datasets.interleave_datasets(probabilities=weights / sum,
seed=dataset.split_seed, stopping_strategy=dataset.stopping_strategy)` over the components' record
indices (the records themselves stay medft Records; only the draw order goes through `datasets`).
Each draw picks a component with its probability, independently, so until a component runs out the
realised counts are multinomial: a weight shows up within binomial sampling error.

- `first_exhausted` (the default) stops right after the first component has given all its training
  records: no record is repeated, and the mixture holds about min_i(n_i / p_i) records; the component
  with the smallest n_i / p_i (records over probability) is the one that runs out.
- `all_exhausted` goes on until every component has given each record at least once, repeating the
  others (oversampling): about max_i(n_i / p_i) records, so a small set weighted against a large one
  repeats many times.
- `all_exhausted_without_replacement` takes every record once: the counts are the components' sizes
  and the weights only set the order.

`dataset.max_samples` then caps the mixture. Held-out splits (validation, test, control) are not
sampled: each component's own split is kept whole, interleaved round-robin so that a
`dataset.eval_limit` takes an equal share of every component, and each record carries its component's
name (`metadata["component"]`) so the recipe reports each component's test score next to the mixture's.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from medft.config.errors import UserError
from medft.config.mixture_components import HELD_OUT, MixtureError, check_mixture, component_labels, probabilities
from medft.data.records import Record

log = logging.getLogger(__name__)


def _tagged(records: list[Record], label: str) -> list[Record]:
    return [replace(r, metadata={**r.metadata, "component": label}) for r in records]


def _interleaved(parts: list[list[Record]], probs: list[float] | None, seed: int, strategy: str) -> list[Record]:
    """`parts` in the order datasets.interleave_datasets draws them (index columns; the records stay here)."""
    from datasets import Dataset, interleave_datasets

    nonempty = [(i, p) for i, p in enumerate(parts) if p]
    if not nonempty:
        return []
    columns = [Dataset.from_dict({"part": [i] * len(p), "row": list(range(len(p)))}) for i, p in nonempty]
    weights = None if probs is None else [probs[i] for i, _ in nonempty]
    if weights is not None:
        weights = [w / sum(weights) for w in weights]
    order = interleave_datasets(columns, probabilities=weights, seed=seed, stopping_strategy=strategy)
    return [parts[part][row] for part, row in zip(order["part"], order["row"])]


def load_mixture(dataset_cfg, load_component) -> dict[str, list[Record]]:
    """The mixture's splits; `load_component(cfg)` is load.load_splits (one component's capped splits)."""
    configs = check_mixture(dataset_cfg)
    probs = probabilities(list(dataset_cfg.components))
    labels = component_labels(dataset_cfg.components)
    loaded = []
    for index, (cfg, label) in enumerate(zip(configs, labels)):
        try:
            splits = load_component(cfg)
        except (UserError, ValueError) as err:  # load_splits' "no training records", a loader's format error
            raise MixtureError(f"dataset.components[{index}] ({label}): {err}") from err
        if cfg.eval_limit:
            splits = {k: (v[: cfg.eval_limit] if k in HELD_OUT else v) for k, v in splits.items()}
        loaded.append({k: _tagged(v, label) for k, v in splits.items()})
        log.info("mixture component %s (weight %.3f): %s", label, probs[index], {k: len(v) for k, v in splits.items()})
    train = _interleaved([s["train"] for s in loaded], probs, dataset_cfg.split_seed, dataset_cfg.stopping_strategy)
    mixed = {"train": train}
    for split in sorted({k for s in loaded for k in s} - {"train"}):
        mixed[split] = _interleaved(
            [s.get(split, []) for s in loaded], None, dataset_cfg.split_seed, "all_exhausted_without_replacement"
        )
    return mixed


def component_of(record: Record) -> str | None:
    return record.metadata.get("component")


def by_component(records: list[Record]) -> dict[str, list[int]]:
    """Positions of each component's records, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        label = component_of(record)
        if label is not None:
            groups.setdefault(label, []).append(position)
    return groups


def mixture_stats(dataset_cfg, splits: dict[str, list[Record]]) -> dict:
    """data_stats.json's `mixture` block: target and realised share per component, per split.

    `train_sigma` is the realised count's distance from N x p in binomial standard deviations
    sqrt(N p (1 - p)): exact for draws before any component ran out, an approximation once one has.
    """
    configs = check_mixture(dataset_cfg)
    probs = probabilities(list(dataset_cfg.components))
    labels = component_labels(dataset_cfg.components)
    train = splits.get("train", [])
    n = len(train)
    counts = {
        name: {label: len(pos) for label, pos in by_component(records).items()} for name, records in splits.items()
    }
    components = []
    for label, cfg, p in zip(labels, configs, probs):
        realised = counts.get("train", {}).get(label, 0)
        spread = (n * p * (1 - p)) ** 0.5
        components.append(
            {
                "label": label,
                "dataset": cfg.name,
                "kind": cfg.kind,
                "weight_share": p,
                "train": realised,
                "train_share": realised / n if n else None,
                "train_sigma": (realised - n * p) / spread if spread else None,
                "held_out": {s: counts[s].get(label, 0) for s in counts if s != "train"},
            }
        )
    return {
        "stopping_strategy": dataset_cfg.stopping_strategy,
        "seed": dataset_cfg.split_seed,
        "train_records": n,
        "components": components,
    }
