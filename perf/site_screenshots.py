"""Screenshots of a results site for the docs: the sweep page, a run page and the item browser.

    python -m medft report <sweep folder> --out report --html site
    python perf/site_screenshots.py site docs/results-browser [--items-filter set=test] [--run <name part>]

Opens the site from its file:// URL in the system Chromium through Playwright (as tests/test_site.py
does) and writes sweep-page.png, run-page.png and item-browser.png, 1400 x 1000 each (the docs keep
PNGs under 300 kB). Prints what each page showed, so a screenshot of an empty page is noticed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medft.site.browser import find_chromium

VIEWPORT = {"width": 1400, "height": 1000}


def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        raise SystemExit("no Chromium found: apt-get install chromium, or MEDFT_CHROMIUM=/path/to/chrome")
    return binary


def shoot(site: Path, out: Path, run_part: str | None, item_filters: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    runs = sorted((site / "runs").glob("*.html"))
    run_page = next((r for r in runs if run_part and run_part in r.name), runs[0])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium())
        page = browser.new_page(viewport=VIEWPORT)
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))

        page.goto((site / "index.html").as_uri())
        print("sweep page:", len(page.query_selector_all("#results tbody tr.setting")), "settings")
        page.screenshot(path=str(out / "sweep-page.png"))

        page.goto(run_page.as_uri())
        page.wait_for_selector("#curves .js-plotly-plot")
        print("run page:", run_page.name, len(page.query_selector_all("#curves .js-plotly-plot")), "curves")
        page.screenshot(path=str(out / "run-page.png"))

        page.goto((site / "items" / run_page.name).as_uri())
        for item_filter in item_filters:
            field, value = item_filter.split("=", 1)
            page.select_option(f"select[data-field='{field}']", value)
        print("item browser:", page.inner_text("#item-summary"))
        page.screenshot(path=str(out / "item-browser.png"))
        browser.close()
    if errors:
        raise SystemExit(f"page errors: {errors}")
    for name in ("sweep-page.png", "run-page.png", "item-browser.png"):
        print(name, (out / name).stat().st_size // 1024, "kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", type=Path, help="the folder `medft report --html` wrote")
    parser.add_argument("out", type=Path, help="where the PNGs go")
    parser.add_argument("--run", help="part of the run page's name to show (default: the first run)")
    parser.add_argument("--items-filter", action="append", default=[], help="field=value, e.g. outcome=fixed")
    args = parser.parse_args()
    shoot(args.site, args.out, args.run, args.items_filter)


if __name__ == "__main__":
    main()
