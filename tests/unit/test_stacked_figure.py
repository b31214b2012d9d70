"""The review's figure is built as plotly JSON directly: its rows, axes and titles are laid out exactly as
plotly's make_subplots lays them out, and its template is plotly's."""

import json

import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly.subplots import make_subplots

from layouts.stacked_figure import StackedFigure, template


def plain(figure: dict) -> dict:
    """JSON as plotly.js gets it, without the empty lists plotly leaves out."""
    return json.loads(json.dumps({k: v for k, v in figure.items() if v != []}))


@pytest.mark.parametrize("heights", [[0.17, 0.28, 0.2, 0.2, 0.2], [0.17, 0.2, 0.2], [0.3, 0.7], [1.0]])
def test_rows_axes_and_titles_are_laid_out_as_make_subplots_does(heights):
    titles = [""] + [f"panel {i}" for i in range(1, len(heights))]
    ours = StackedFigure(heights, titles, 0.035, {"size": 16, "color": "#cfd8dc"})
    theirs = make_subplots(
        rows=len(heights), cols=1, shared_xaxes=True, vertical_spacing=0.035, row_heights=heights, subplot_titles=titles
    )
    theirs.update_annotations(font={"size": 16, "color": "#cfd8dc"})
    for row in range(1, len(heights) + 1):
        ours.add_trace({"type": "scattergl", "x": [row], "y": [2], "name": f"t{row}"}, row)
        theirs.add_trace(go.Scattergl(x=[row], y=[2], name=f"t{row}"), row=row, col=1)
    ours.update_axes("y", [1], range=[0, 5.1], showgrid=False)
    theirs.update_yaxes(range=[0, 5.1], showgrid=False, row=1, col=1)
    ours.update_axes("x", gridcolor="#263238")
    theirs.update_xaxes(gridcolor="#263238")
    expected = theirs.to_plotly_json()
    del expected["layout"]["template"]  # plotly's default, which the review sets to its own
    assert plain(ours.json()["layout"]) == plain(expected["layout"])
    assert plain({"data": ours.json()["data"]}) == plain({"data": expected["data"]})


def test_the_template_is_plotlys():
    assert template("plotly_dark") == pio.templates["plotly_dark"].to_plotly_json()
