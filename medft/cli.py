"""The shared `main` of medft's `python -m` commands (generate, export): compose the named root
config with Hydra, log to stderr (stdout is the command's output), and run the command through
medft.entry.guarded (secrets refused and masked; an error's message, no stack trace unless
debug=true), as train.py and evaluate.py do."""

from __future__ import annotations

import logging
import sys


def hydra_main(config_name: str, run) -> None:
    import hydra

    from medft.config.compose import CONF_DIR, prepare_hydra
    from medft.entry import check_command_line, guarded

    prepare_hydra()
    check_command_line()  # a credential override is refused before Hydra copies it anywhere

    def entry(cfg) -> None:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(name)s][%(levelname)s] - %(message)s")
        guarded(lambda: run(cfg), cfg)  # these commands write no .hydra folder

    hydra.main(version_base=None, config_path=str(CONF_DIR), config_name=config_name)(entry)()
