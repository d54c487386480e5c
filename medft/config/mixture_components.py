"""dataset=mixture as configuration: each component's dataset option, typed and checked before loading.

Each component is another `dataset=` option (conf/dataset/<name>.yaml) plus a weight, an optional
label and overrides of that option's keys; medft/data/mixture.py loads and interleaves them.
"""

from __future__ import annotations

from pathlib import Path

from medft.config.compose import CONF_DIR
from medft.config.errors import UserError
from medft.config.schema import DatasetConfig

MIXTURE_KEYS = ("name", "weight", "label")  # a component's own keys; the rest override its dataset option
HELD_OUT = ("validation", "test", "control")


class MixtureError(UserError, ValueError):
    """dataset.components names something that cannot be mixed."""


def _dataset_dir() -> Path:
    return CONF_DIR / "dataset"


def component_config(component, index: int):
    """The component's dataset config: its conf/dataset/<name>.yaml on the schema, then its overrides.

    Type-checked by the same structured schema Hydra uses for `dataset=<name>`, so a misspelt key or
    a wrong type fails here, naming `dataset.components[index]`.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    where = f"dataset.components[{index}]"
    if not OmegaConf.is_dict(component) and not isinstance(component, dict):
        raise MixtureError(f"{where}={component!r}: each component is a mapping like {{name: builtin, weight: 0.5}}")
    name = component.get("name")
    choices = sorted(p.stem for p in _dataset_dir().glob("*.yaml") if p.stem != "mixture")
    if name == "mixture":
        raise MixtureError(f"{where}.name=mixture: mixtures do not nest; list the datasets themselves")
    if name not in choices:
        raise MixtureError(f"{where}.name={name!r} is not a dataset option; use one of {choices}")
    option = OmegaConf.load(_dataset_dir() / f"{name}.yaml")
    option.pop("defaults", None)
    if OmegaConf.is_interpolation(option, "max_seq_len"):  # ${task.max_seq_len}: the mixture's own length rules
        del option["max_seq_len"]
    overrides = {
        k: v
        for k, v in (OmegaConf.to_container(component) if OmegaConf.is_config(component) else dict(component)).items()
        if k not in MIXTURE_KEYS
    }
    try:
        return OmegaConf.merge(OmegaConf.structured(DatasetConfig), option, overrides)
    except OmegaConfBaseException as err:
        raise MixtureError(
            f"{where} ({name}): {str(err).splitlines()[0]}. Its keys are those of "
            f"dataset={name} (conf/dataset/{name}.yaml)"
        ) from err


def probabilities(components) -> list[float]:
    """The weights normalised to sum to 1; an error naming the component for a bad one."""
    weights = []
    for index, component in enumerate(components):
        weight = component.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise MixtureError(f"dataset.components[{index}].weight={weight!r}: give a number >= 0, e.g. weight: 0.5")
        weights.append(float(weight))
    total = sum(weights)
    if total <= 0:
        raise MixtureError(
            f"dataset.components weights {weights} sum to {total}: at least one must be positive "
            "(they are normalised, so [7, 3] and [0.7, 0.3] are the same mixture)"
        )
    return [w / total for w in weights]


def check_mixture(dataset_cfg) -> list:
    """Every component's config (validated), before anything is loaded."""
    components = list(dataset_cfg.components)
    if len(components) < 2:
        raise MixtureError(
            f"dataset=mixture needs at least two dataset.components (got {len(components)}), e.g. "
            "dataset.components=[{name: builtin, weight: 0.7}, {name: jsonl, weight: 0.3, path: data.jsonl}]"
        )
    probabilities(components)
    configs = [component_config(c, i) for i, c in enumerate(components)]
    names = component_labels(components)
    if len(set(names)) != len(names):
        raise MixtureError(
            f"dataset.components: two components share the label {names}; give each a distinct "
            "`label: ...` (e.g. {name: jsonl, label: notes, path: ...})"
        )
    return configs


def component_labels(components) -> list[str]:
    """The names a component's records and scores carry: its `label`, else its dataset option's name."""
    return [str(c.get("label") or c.get("name")) for c in components]
