"""The results site (`python -m medft report FOLDER... --html OUT`): static pages over sweeps and runs.

- `sources`: which folders are sweeps and which are runs given alone.
- `run_data`: one run's page data: config, TensorBoard curves, scores, data checks, memory, timings.
- `item_rows`: every scored question, base and tuned, with its text where the rules allow.
- `charts`: plotly figures drawn by the site's own copy of plotly.js.
- `build`: the pages (Jinja2 templates in templates/, behaviour in assets/site.js).
"""
