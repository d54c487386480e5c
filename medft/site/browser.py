"""Which Chromium opens the results site: for the browser tests and the docs' screenshots
(perf/site_screenshots.py), driven by Playwright with the system binary rather than a downloaded one."""

from __future__ import annotations

import os
import shutil

BINARY_ENV = "MEDFT_CHROMIUM"  # a path to a Chrome/Chromium binary, where it is not on PATH
NAMES = ("chromium", "chromium-browser", "google-chrome")  # Debian, Ubuntu, Google's package


def find_chromium() -> str | None:
    """$MEDFT_CHROMIUM, else the first of NAMES on PATH, else None."""
    return os.environ.get(BINARY_ENV) or next((shutil.which(n) for n in NAMES if shutil.which(n)), None)
