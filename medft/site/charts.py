"""Plotly figures of the site, as HTML fragments that draw with the site's own copy of plotly.js.

The fragments carry no script of plotly's: `assets/plotly.min.js`, written once per site from
plotly's Python wheel, is loaded by every page, so the site works offline and from file://.
"""

from __future__ import annotations

from medft.tables.aggregate import Column, Table

CONFIG = {"displaylogo": False, "responsive": True}


def _html(fig, div_id: str) -> str:
    fig.update_layout(margin={"l": 50, "r": 20, "t": 40, "b": 40}, height=320, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CONFIG)


def curve_figures(curves: dict[str, tuple[list[int], list[float]]]) -> list[tuple[str, str]]:
    """(tag, fragment) per logged scalar with more than one point: loss, learning rate, eval, system/*."""
    import plotly.graph_objects as go

    out = []
    # training curves first (loss, learning rate, eval), the machine's (system/*) after them
    ordered = sorted(curves.items(), key=lambda item: (item[0].startswith("system/"), item[0]))
    for i, (tag, (steps, values)) in enumerate(ordered):
        if len(steps) < 2:
            continue
        fig = go.Figure(go.Scatter(x=steps, y=values, mode="lines+markers", name=tag))
        fig.update_layout(title=tag, xaxis_title="step")
        out.append((tag, _html(fig, f"curve-{i}")))
    return out


def single_points(curves: dict[str, tuple[list[int], list[float]]]) -> dict[str, float]:
    """Scalars logged once (train runtime, final eval): a table, not a chart."""
    return {tag: values[-1] for tag, (steps, values) in sorted(curves.items()) if len(steps) == 1}


def _label(settings: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "all runs"


def metric_bars(table: Table, column: Column, div_id: str) -> str | None:
    """The column's mean per setting with its 95% interval as error bars."""
    import plotly.graph_objects as go

    rows = [r for r in table.rows if column.key in r.cells]
    if not rows:
        return None
    cells = [r.cells[column.key] for r in rows]
    high = [(c.ci[1] - c.mean) if c.ci else 0 for c in cells]
    low = [(c.mean - c.ci[0]) if c.ci else 0 for c in cells]
    fig = go.Figure(
        go.Bar(
            x=[_label(r.settings) for r in rows],
            y=[c.mean for c in cells],
            error_y={"type": "data", "array": high, "arrayminus": low},
        )
    )
    fig.update_layout(title=column.label, yaxis_title=column.label)
    return _html(fig, div_id)


def metric_vs_memory(table: Table, metric: Column, memory: Column, div_id: str) -> str | None:
    import plotly.graph_objects as go

    rows = [r for r in table.rows if metric.key in r.cells and memory.key in r.cells]
    if len(rows) < 2:
        return None
    fig = go.Figure()
    for row in rows:
        cell = row.cells[metric.key]
        fig.add_trace(
            go.Scatter(
                x=[row.cells[memory.key].mean],
                y=[cell.mean],
                mode="markers",
                name=_label(row.settings),
                error_y={
                    "type": "data",
                    "array": [cell.ci[1] - cell.mean if cell.ci else 0],
                    "arrayminus": [cell.mean - cell.ci[0] if cell.ci else 0],
                },
            )
        )
    fig.update_layout(title=f"{metric.label} vs {memory.label}", xaxis_title=memory.label, yaxis_title=metric.label)
    return _html(fig, div_id)


def sweep_figures(table: Table) -> list[str]:
    accuracy = [c for c in table.columns if c.accuracy]
    by_key = {c.key: c for c in table.columns}
    made = [metric_bars(table, c, f"sweep-{i}") for i, c in enumerate(accuracy)]
    if accuracy and "peak_mem_mb" in by_key:
        made.append(metric_vs_memory(table, accuracy[0], by_key["peak_mem_mb"], "sweep-memory"))
    return [m for m in made if m]
