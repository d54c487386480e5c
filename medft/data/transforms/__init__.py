"""Dataset transforms, applied in the order `dataset.transforms=[...]` lists them.

Each transform is a function `(splits, dataset_cfg, seed) -> (splits, counts)` in a module of
its own; `counts` is a small JSON-able dict that the run folder's data report keeps. Text
transforms (abbreviations, terminology, scrub_phi) rewrite every split alike, so the model is
evaluated on text written the way it was trained on; `augment` adds to the train split only.
"""

from __future__ import annotations

import importlib
import logging

from medft.config.errors import UserError

log = logging.getLogger(__name__)

# name -> module under medft.data.transforms exposing apply(splits, dataset_cfg, seed)
TRANSFORMS = {
    "abbreviations": "abbreviations",
    "terminology": "terminology",
    "augment": "augment",
    "scrub_phi": "scrub_phi",
}


class TransformConfigError(UserError, ValueError):
    """dataset.transforms names something unknown or is given in an order that cannot work."""


def check_transforms(names) -> None:
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise TransformConfigError(
            f"dataset.transforms: unknown {unknown}; choose from {sorted(TRANSFORMS)}, "
            "e.g. dataset.transforms=[scrub_phi,abbreviations]"
        )
    if len(set(names)) != len(names):
        raise TransformConfigError(f"dataset.transforms={list(names)} lists a transform twice; give each once")


def apply_transforms(splits: dict, dataset_cfg, seed: int) -> tuple[dict, dict]:
    """Run the configured transforms in order; return the new splits and {name: counts}."""
    names = list(dataset_cfg.get("transforms") or [])
    check_transforms(names)
    report = {}
    for name in names:
        module = importlib.import_module(f"medft.data.transforms.{TRANSFORMS[name]}")
        splits, counts = module.apply(splits, dataset_cfg, seed)
        report[name] = counts
        log.info("Transform %s: %s", name, counts)
    return splits, report
