"""Composition entry points shared by the CLI, the tests and the Python API (Hydra's compose API).

These compose exactly what `python train.py <overrides>` runs, without the `hydra:` node; the
resolvers that node uses (the run folder) are registered by medft.cli.prepare_hydra.
"""

from __future__ import annotations

from pathlib import Path

from medft.config.run_schema import register_configs

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def register_schemas() -> None:
    """Put the structured-config schemas in Hydra's ConfigStore (cheap, idempotent)."""
    register_configs()


def compose_train(overrides: list[str] | None = None, return_hydra_config: bool = False):
    """The same config `python train.py <overrides>` would run, via Hydra's compose API."""
    from hydra import compose, initialize_config_dir

    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose("train", overrides=list(overrides or []), return_hydra_config=return_hydra_config)


def compose_evaluate(overrides: list[str] | None = None, return_hydra_config: bool = False):
    """The same config `python evaluate.py <overrides>` would run."""
    from hydra import compose, initialize_config_dir

    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose("evaluate", overrides=list(overrides or []), return_hydra_config=return_hydra_config)


def compose_named(config_name: str, overrides: list[str] | None = None):
    """Any root config under conf/ (generate, export), as its `python -m medft <name>` would compose it."""
    from hydra import compose, initialize_config_dir

    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name, overrides=list(overrides or []))
