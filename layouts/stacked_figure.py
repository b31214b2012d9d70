"""A plotly figure of rows stacked on one shared time axis, built as the JSON plotly.js reads.

The same figure ``plotly.subplots.make_subplots(rows=n, cols=1, shared_xaxes=True, ...)`` lays out, without
plotly's figure objects: those check every property as it is set, which for the review's figure (a dozen
traces, shapes and annotations) took longer than reading the session from the store. Properties are given
as plotly.js names them (``line={"width": 0}``, not ``line_width=0``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def template(name: str) -> dict:
    """One of plotly's shipped templates (``plotly_dark``...) as JSON, read once."""
    return json.loads((resources.files("plotly") / "package_data" / "templates" / f"{name}.json").read_text())


def _axis(kind: str, row: int) -> str:
    """``x``, ``y2``...: how traces and other axes name the axis of ``row`` (1 is the top row)."""
    return kind if row == 1 else f"{kind}{row}"


def axis_key(kind: str, row: int) -> str:
    """``xaxis``, ``yaxis2``...: the layout key of the axis of ``row``."""
    return f"{kind}axis" if row == 1 else f"{kind}axis{row}"


class StackedFigure:
    """Rows (1 at the top) sharing the bottom row's x axis, whose tick labels alone are shown."""

    def __init__(self, row_heights: list[float], titles: list[str], spacing: float, title_font: dict) -> None:
        n = len(row_heights)
        free = 1.0 - spacing * (n - 1)
        bottom_up = [free * (h / sum(row_heights)) for h in reversed(row_heights)]
        self.rows = n
        self.data: list[dict] = []
        self.layout: dict = {"annotations": [], "shapes": []}
        for row in range(1, n + 1):
            k = n - row  # rows below this one
            start = sum(bottom_up[:k]) + k * spacing
            top = min(1.0, start + bottom_up[k])
            x: dict[str, object] = {"anchor": _axis("y", row), "domain": [0.0, 1.0]}
            if row < n:
                x |= {"matches": _axis("x", n), "showticklabels": False}
            self.layout[axis_key("x", row)] = x
            self.layout[axis_key("y", row)] = {"anchor": _axis("x", row), "domain": [max(0.0, start), top]}
            if titles[row - 1]:
                self.add_annotation(
                    font=title_font, showarrow=False, text=titles[row - 1], x=0.5, xanchor="center", xref="paper",
                    y=top, yanchor="bottom", yref="paper",
                )  # fmt: skip

    def add_trace(self, trace: dict, row: int) -> None:
        self.data.append(trace | {"xaxis": _axis("x", row), "yaxis": _axis("y", row)})

    def add_shape(self, **shape: object) -> None:
        self.layout["shapes"].append(shape)

    def add_annotation(self, **annotation: object) -> None:
        self.layout["annotations"].append(annotation)

    def update_axes(self, kind: str, rows: list[int] | None = None, **props: object) -> None:
        """Set ``props`` (those not None) on the ``kind`` (``x`` or ``y``) axis of each of ``rows`` (every row
        when None)."""
        for row in rows or range(1, self.rows + 1):
            self.layout[axis_key(kind, row)].update({k: v for k, v in props.items() if v is not None})

    def json(self) -> dict:
        """The figure as plotly.js reads it (and ``dcc.Graph`` takes it)."""
        return {"data": self.data, "layout": self.layout}
