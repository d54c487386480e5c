"""Progress bars follow the terminal: `progress=auto` draws them only when the output is a terminal.

A bar redraws itself with carriage returns; in a file (a scheduler's log, `> run.log`, `| tee`) every
redraw stays as a line of `\\r`-joined text. medft's own bars read `bars_on()`; the trainer gets
`disable_tqdm`; transformers', datasets' and huggingface_hub's bars are switched by `quiet_library_bars`.
"""

from __future__ import annotations

import os
import sys

_shown = {"bars": True}  # process-wide, like the libraries' own switches; set once per command


def bars_wanted(mode: str) -> bool:
    """`always`/`never` as given; `auto`: only when both stdout (logs) and stderr (bars) are terminals,
    so neither stream can carry `\\r` lines into a file, or in a Jupyter notebook (medft.api), whose
    bars are widgets."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    return all(_is_terminal(stream) for stream in (sys.stdout, sys.stderr)) or in_notebook()


def in_notebook() -> bool:
    """A Jupyter kernel runs this process (tqdm.autonotebook's test: the kernel app's config section)."""
    ipython = sys.modules.get("IPython")  # not imported: not in a notebook
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config


def _is_terminal(stream) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a replaced stream without isatty, or a closed one
        return False


def set_progress(mode: str) -> bool:
    """Decide once per command whether medft draws bars; returns the decision."""
    _shown["bars"] = bars_wanted(mode)
    return _shown["bars"]


def bars_on() -> bool:
    return _shown["bars"]


def quiet_library_bars(show: bool) -> None:
    """The same switch for the bars of transformers (loading weights), huggingface_hub (downloads) and
    datasets (TRL's `map` passes). A variable the user set (HF_DATASETS_DISABLE_PROGRESS_BARS) wins."""
    import datasets
    import transformers

    if show:
        transformers.utils.logging.enable_progress_bar()
        if os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS") is None:
            datasets.enable_progress_bars()
    else:
        transformers.utils.logging.disable_progress_bar()
        if os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS") is None:
            datasets.disable_progress_bars()
