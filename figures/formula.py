"""Figures for the formula playground and the errata page: a function with its derivative, a few
named curves over a shared axis, and small annotated matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from figures.common import DIVERGING, as_numpy, heatmap

F_COLOUR = "#4F46E5"  # f: indigo
DF_COLOUR = "#F59E0B"  # f′: amber
SCALE_GAP = 5.0  # f and f′ share an axis unless one's range is this many times the other's
PALETTE = ("#4F46E5", "#DC2626", "#059669", "#F59E0B", "#7C3AED", "#0891B2")


def _gaps(values) -> list[float | None]:
    """Floats for plotly, with None where a value is NaN or infinite (drawn as a gap in the line)."""
    return [float(v) if np.isfinite(v) else None for v in as_numpy(values).ravel()]


def _layout(title: str | None, height: int, x_title: str, y_title: str | None = None) -> dict:
    return dict(
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        title=dict(text=title, font=dict(size=14)) if title else None,
        xaxis=dict(title=dict(text=x_title), zeroline=True, zerolinecolor="#9CA3AF"),
        yaxis=dict(title=dict(text=y_title) if y_title else None, zeroline=True, zerolinecolor="#9CA3AF"),
        # top right, clear of the title at the top left
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        hovermode="x unified",
    )


def _spread(values) -> float:
    finite = as_numpy(values)[np.isfinite(as_numpy(values))]
    return float(finite.max() - finite.min()) if finite.size else 0.0


def function_figure(x, f, df, *, x_title: str, f_name: str, df_name: str, title: str | None = None,
                    mark: tuple[float, float | None, float | None] | None = None,
                    height: int = 380) -> go.Figure:
    """f and its derivative f′ over the grid x; NaN (no value there) leaves a gap. When one curve
    spans more than SCALE_GAP times the other's range (−log p against −1/p), f′ gets its own axis
    on the right, so neither curve is flattened.

    mark = (x₀, f(x₀), f′(x₀)) puts a dot on each curve at x₀ (a None value draws no dot)."""
    xs = _gaps(x)
    spread_f, spread_df = _spread(f), _spread(df)
    dual = min(spread_f, spread_df) * SCALE_GAP < max(spread_f, spread_df)
    df_axis = "y2" if dual else "y"
    data = [
        dict(type="scatter", mode="lines", x=xs, y=_gaps(f), name=f_name, line=dict(color=F_COLOUR, width=3),
             connectgaps=False),
        dict(type="scatter", mode="lines", x=xs, y=_gaps(df), name=df_name, yaxis=df_axis,
             line=dict(color=DF_COLOUR, width=2, dash="dash"), connectgaps=False),
    ]
    if mark is not None:
        x0, f0, df0 = mark
        for value, colour, axis in ((f0, F_COLOUR, "y"), (df0, DF_COLOUR, df_axis)):
            if value is not None and np.isfinite(value):
                data.append(dict(type="scatter", mode="markers", x=[float(x0)], y=[float(value)], showlegend=False,
                                 yaxis=axis, marker=dict(color=colour, size=11, line=dict(color="white", width=2)),
                                 hoverinfo="skip"))
    layout = _layout(title, height, x_title)
    if dual:
        layout["yaxis"].update(title=dict(text=f_name, font=dict(color=F_COLOUR)), tickfont=dict(color=F_COLOUR))
        layout["yaxis2"] = dict(overlaying="y", side="right", title=dict(text=df_name, font=dict(color=DF_COLOUR)),
                                tickfont=dict(color=DF_COLOUR), showgrid=False, zeroline=False)
    if mark is not None:
        layout["shapes"] = [dict(type="line", x0=float(mark[0]), x1=float(mark[0]), y0=0, y1=1, yref="paper",
                                 line=dict(color="#9CA3AF", width=1, dash="dot"))]
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def curves_figure(x, series: Mapping[str, Sequence[float]], *, x_title: str, y_title: str | None = None,
                  title: str | None = None, tick_text: Sequence[str] | None = None, markers: bool = False,
                  height: int = 340) -> go.Figure:
    """Named curves over one x axis, in the order given (NaN leaves a gap). tick_text labels the
    points of a numeric x (characters of a text: repeated ones stay separate points)."""
    xs = _gaps(x)
    mode = "lines+markers" if markers else "lines"
    data = [dict(type="scatter", mode=mode, x=xs, y=_gaps(y), name=name, connectgaps=False,
                 line=dict(color=PALETTE[k % len(PALETTE)], width=2.5 if k == 0 else 2,
                           dash="solid" if k == 0 else "dash"))
            for k, (name, y) in enumerate(series.items())]
    layout = _layout(title, height, x_title, y_title)
    if tick_text is not None:
        layout["xaxis"].update(tickmode="array", tickvals=xs, ticktext=list(tick_text), tickangle=0)
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def matrix_figure(values, *, title: str | None = None, zmax: float | None = None, fmt: str = ".2f",
                  row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
                  annotate: bool | None = None, height: int | None = None) -> go.Figure:
    """A small signed matrix, blue < 0 < red about 0, numbers in the cells when it is small
    (annotate=None: up to 8×8). zmax fixes the colour range (share it between figures compared)."""
    z = as_numpy(values)
    if z.ndim == 1:
        z = z[None, :]
    rows, cols = z.shape
    finite = z[np.isfinite(z)]
    top = zmax if zmax is not None else (float(np.abs(finite).max()) if finite.size else 1.0)
    top = max(top, 1e-9)
    small = max(rows, cols) <= 8 if annotate is None else annotate
    fig = heatmap(z, title=title, colorscale=DIVERGING, zmin=-top, zmax=top, annotate=small, fmt=fmt,
                  height=height or min(420, 90 + 34 * rows + (40 if title else 0)), showscale=not small)
    if row_labels is not None:
        fig.update_yaxes(tickmode="array", tickvals=list(range(rows)), ticktext=list(row_labels))
    if col_labels is not None:
        fig.update_xaxes(tickmode="array", tickvals=list(range(cols)), ticktext=list(col_labels))
    return fig
