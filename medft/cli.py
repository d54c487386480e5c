"""The shared `main` of medft's `python -m` commands (generate, export): compose the named root
config with Hydra, log to stderr (stdout is the command's output), print a UserError's message
and exit 2 instead of a stack trace, as train.py and evaluate.py do."""

from __future__ import annotations

import logging
import sys


def hydra_main(config_name: str, run) -> None:
    import hydra

    from medft.config.compose import CONF_DIR, prepare_hydra
    from medft.errors import UserError

    prepare_hydra()

    def entry(cfg) -> None:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(name)s][%(levelname)s] - %(message)s")
        try:
            run(cfg)
        except UserError as err:
            logging.getLogger("medft").error("%s", err)
            raise SystemExit(2) from None

    hydra.main(version_base=None, config_path=str(CONF_DIR), config_name=config_name)(entry)()
