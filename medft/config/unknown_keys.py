"""Keys that no schema declares: refused, naming the full key and the nearest real one.

Hydra checks `peft_method.rnak=8` against the schema, but its own error says "To append to your
config use +peft_method.rnak=8", and a `+` (or `++`) override is added past the schema on
purpose. Two guards close that door: `refuse_unknown_overrides` reads the command line before
Hydra writes it into .hydra/ (config.yaml, overrides.yaml), and `refuse_unknown_keys` walks a
composed config (the Python API, tests, any other route) before anything is loaded.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing

from medft.config.compose import CONF_DIR
from medft.config.errors import ConfigError
from medft.config.optimizer_schema import OPTION_OF
from medft.config.run_schema import EvaluateRunConfig, ExportRunConfig, GenerateRunConfig, TrainRunConfig
from medft.config.secrets import ENV_FOR, is_secret_key

ROOT_SCHEMAS = {
    "train": TrainRunConfig,
    "evaluate": EvaluateRunConfig,
    "generate": GenerateRunConfig,
    "export": ExportRunConfig,
}


def _fields(schema) -> dict[str, object]:
    """Field name -> type of a schema dataclass (its annotations are strings: resolved here)."""
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema)}


def _schema_of(annotation):
    """The dataclass a field holds (through `X | None`), or None for a leaf, list, dict or Any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


def _refusal(key: str, schema, known: list[str]) -> ConfigError:
    leaf = key.rsplit(".", 1)[-1]
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    if is_secret_key(leaf):  # `+hub.token=${oc.env:...}` too: no config key ever holds a credential
        env = ENV_FOR.get(key.split(".")[0], "the environment variable the tool that needs it reads")
        return ConfigError(
            f"{key}: no config key holds a credential; medft reads credentials from the environment "
            f"only, so they never land in .hydra/, the manifest or the logs: remove {key} and "
            f"export {env} instead"
        )
    close = difflib.get_close_matches(leaf, known, n=1, cutoff=0.4)  # rnak -> r scores 0.4
    hint = f"did you mean {parent + '.' if parent else ''}{close[0]}? " if close else ""
    return ConfigError(
        f"{key}: no such key in {parent or 'the config'} ({schema.__name__}); {hint}its keys are "
        f"{', '.join(known)}. A `+` override adds keys past the schema, so a misspelt key would "
        "be kept and ignored: drop the `+` and fix the name"
    )


def unknown_key(schema, dotted: str) -> ConfigError | None:
    """The refusal for `dotted` (e.g. `peft_method.rnak`) under the root `schema`, or None when the key
    exists or lies below an untyped node (a list, a dict, `resume`), where any key is data."""
    for depth, part in enumerate(dotted.split(".")):
        known = _fields(schema)
        if part not in known:
            return _refusal(".".join(dotted.split(".")[: depth + 1]), schema, list(known))
        schema = _schema_of(known[part])
        if schema is None:
            return None
    return None


def refuse_unknown_overrides(args: list[str], config_name: str) -> None:
    """Before Hydra: a `+key=` / `++key=` override whose key no schema of the command declares.
    `+group=option` (a config group, e.g. `+experiment=...`) and `hydra.*` are Hydra's own."""
    schema = ROOT_SCHEMAS.get(config_name)
    if schema is None:
        return
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key.startswith("+"):
            continue
        key = key.lstrip("+")
        if (
            "/" in key
            or key.split(".")[0] == "hydra"
            or ("." not in key and key not in _fields(schema) and _is_group(key))
        ):
            continue
        error = unknown_key(schema, key)
        if error is not None:
            raise _family_key(key, value) or error


def _family_key(key: str, value: str) -> ConfigError | None:
    """`+optimizer.momentum=0.9`: before composing, `optimizer` is only the base schema, but momentum is
    a field of the SGD and RMSprop families. Hydra refuses `+` for a key the chosen family declares,
    and the fix is the plain override after choosing that family, not a spelling fix."""
    group, _, leaf = key.partition(".")
    if group != "optimizer" or "." in leaf:
        return None
    options = [option for schema, option in OPTION_OF.items() if leaf in _fields(schema)]
    if not options:
        return None
    return ConfigError(
        f"+{key}: {leaf} is a key of optimizer={', optimizer='.join(options)}, not one to add with `+`: "
        f"choose the optimizer and set it without the `+`, e.g. optimizer={options[0]} {key}={value}"
    )


def _is_group(name: str) -> bool:
    return (CONF_DIR / name).is_dir()


def unknown_keys(cfg, prefix: str = "") -> list[tuple[str, type]]:
    """(full key, schema) of every key of a composed config that its node's schema does not declare."""
    from omegaconf import DictConfig, OmegaConf

    found = []
    schema = OmegaConf.get_type(cfg)
    known = _fields(schema) if dataclasses.is_dataclass(schema) else None
    for key in cfg.keys():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if known is not None and key not in known:
            found.append((dotted, schema))
            continue
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_missing() and not node._is_none():
            found += unknown_keys(node, dotted)
    return found


def refuse_unknown_keys(cfg) -> None:
    found = unknown_keys(cfg)
    if found:
        key, schema = found[0]
        raise _refusal(key, schema, list(_fields(schema)))
