"""Composition entry points shared by the CLI scripts, the tests and (later) the Python API."""

from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def prepare_hydra() -> None:
    """Register structured-config schemas and the run-folder resolver (cheap, idempotent)."""
    from medft import distributed
    from medft.config.run_schema import register_configs
    from medft.run.folders import register_resolvers

    register_configs()
    register_resolvers()
    distributed.register_resolvers()


def compose_train(overrides: list[str] | None = None, return_hydra_config: bool = False):
    """The same config `python train.py <overrides>` would run, via Hydra's compose API."""
    from hydra import compose, initialize_config_dir

    prepare_hydra()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose("train", overrides=list(overrides or []), return_hydra_config=return_hydra_config)


def compose_evaluate(overrides: list[str] | None = None, return_hydra_config: bool = False):
    """The same config `python evaluate.py <overrides>` would run."""
    from hydra import compose, initialize_config_dir

    prepare_hydra()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose("evaluate", overrides=list(overrides or []), return_hydra_config=return_hydra_config)


def compose_named(config_name: str, overrides: list[str] | None = None):
    """Any root config under conf/ (generate, export), as its `python -m medft.<name>` would compose it."""
    from hydra import compose, initialize_config_dir

    prepare_hydra()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name, overrides=list(overrides or []))
