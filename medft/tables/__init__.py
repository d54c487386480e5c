"""Sweep folders -> the table and plots a paper prints (`python -m medft report SWEEP_DIR... --out DIR`).

- `collect`: one record per job (settings, seed, status, metrics), from the job folders.
- `aggregate`: rows = swept settings, cells = mean ± std over seeds with a 95% interval.
- `render`: the table as Markdown, LaTeX (booktabs) and CSV.
- `plots`: accuracy vs rank, accuracy vs memory by quantization (PNG).
"""
