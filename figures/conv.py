"""Convolution figures: feature maps, one output cell's receptive field, kernels, and the LaTeX
of one output cell's sum with the real numbers substituted.

Every function takes engine results (tensors or arrays) and returns a plotly figure or a LaTeX
string; nothing here computes the convolution itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from engine.ops.conv import ConvCellTrace, output_size
from figures.common import DIVERGING, INK, add_box, as_numpy, heatmap

CELL_BOX = "#F59E0B"  # the chosen output cell and its receptive field
IMAGE_EDGE = "#60A5FA"  # where the unpadded image ends
W_COLOR = "#4F46E5"  # kernel weights in the written-out sum


def symmetric_range(*arrays) -> float:
    """max |v| over all arrays (at least 1e-6), so that 0 sits in the middle of a diverging scale."""
    m = 0.0
    for a in arrays:
        a = as_numpy(a)
        if a.size and np.isfinite(a).any():
            m = max(m, float(np.nanmax(np.abs(a))))
    return max(m, 1e-6)


def grid_heatmap(z, *, colorscale: str, zmin: float, zmax: float, title: str | None = None,
                 height: int = 320, showscale: bool = True, text_fmt: str | None = None,
                 hover_fmt: str = ".3f", text_size: int = 11) -> go.Figure:
    """figures.common.heatmap with a fixed colour range and, optionally, numbers in the cells."""
    return heatmap(z, colorscale=colorscale, zmin=zmin, zmax=zmax, title=title, height=height,
                   showscale=showscale, annotate=text_fmt is not None, fmt=text_fmt or ".2f",
                   hover_fmt=hover_fmt, text_size=text_size)


def signed_heatmap(z, *, title: str | None = None, zmax: float | None = None, height: int = 360,
                   showscale: bool = True) -> go.Figure:
    """Signed values on a diverging scale: blue < 0 (white) < red, symmetric around 0."""
    m = zmax if zmax is not None else symmetric_range(z)
    return grid_heatmap(z, colorscale=DIVERGING, zmin=-m, zmax=m, title=title, height=height,
                        showscale=showscale)


def feature_map_figure(fmap, *, cell: tuple[int, int] | None = None, title: str | None = None,
                       height: int = 380, zmax: float | None = None) -> go.Figure:
    """A feature map (H_out, W_out) with the chosen output cell outlined."""
    fig = signed_heatmap(fmap, title=title, zmax=zmax, height=height)
    if cell is not None:
        add_box(fig, cell[0], cell[1], 1, 1, color=CELL_BOX, line_width=3)
    return fig


def receptive_field_figure(x2d, row: int, col: int, k: int, padding: int = 0, *,
                           title: str | None = None, height: int = 380) -> go.Figure:
    """The (zero-)padded input with the k×k window at (row, col) outlined.

    Coordinates are those of the padded input, as in x[i·s+m, j·s+n]; a dotted line marks the
    original image when padding > 0.
    """
    x = np.pad(as_numpy(x2d), padding)
    fig = grid_heatmap(x, colorscale=INK, zmin=0.0, zmax=max(1.0, float(x.max())), title=title,
                       height=height, showscale=False, hover_fmt=".2f")
    H, W = x.shape[0] - 2 * padding, x.shape[1] - 2 * padding
    if padding:
        add_box(fig, padding, padding, H, W, color=IMAGE_EDGE, line_width=1.5)
        fig.layout.shapes[-1].line.dash = "dot"
    return add_box(fig, row, col, k, k, color=CELL_BOX, line_width=3)


def grid_figure(values, *, signed: bool = True, fmt: str = ".2f", title: str | None = None) -> go.Figure:
    """A small k×k grid with its numbers written in the cells (patch, kernel, products)."""
    z = as_numpy(values)
    k = z.shape[0]
    height = max(200, 80 + 34 * k)
    if signed:
        m = symmetric_range(z)
        lo, hi, scale = -m, m, DIVERGING
    else:
        lo, hi, scale = 0.0, max(1.0, float(z.max())), INK
    return grid_heatmap(z, colorscale=scale, zmin=lo, zmax=hi, title=title, height=height, showscale=False,
                        text_fmt=fmt, hover_fmt=".4g", text_size=12 if k <= 5 else 10)


@dataclass(frozen=True)
class CellFigures:
    """The three grids of one written-out output cell."""

    patch: go.Figure  # the input window x
    kernel: go.Figure  # w
    products: go.Figure  # w ⊙ x


def cell_figures(trace: ConvCellTrace, titles: tuple[str, str, str]) -> CellFigures:
    """The input patch x, the kernel w and the products w ⊙ x of one output cell."""
    return CellFigures(
        patch=grid_figure(trace.patch, signed=False, fmt=".2f", title=titles[0]),
        kernel=grid_figure(trace.kernel, signed=True, fmt=".3g", title=titles[1]),
        products=grid_figure(trace.products, signed=True, fmt=".2f", title=titles[2]),
    )


# The mosaics are sized for the page's main column (~820 px at a 1280 px window): the cells stay
# square, so the figure's height follows from its width and the number of tile rows.
MOSAIC_PLOT_WIDTH = 740  # px for the tiles: the column less the margins and the colour bar
LABEL_PX = 15  # px of the band above each tile row that holds the tiles' index labels
LABEL_COLOR = "#6B7280"


def label_band(ncols: int, W: int, plot_width: int = MOSAIC_PLOT_WIDTH) -> int:
    """Rows of the band above each tile row: enough cells for a LABEL_PX-high label, at least 1."""
    cell_px = plot_width / (ncols * (W + 1) - 1)
    return max(1, int(np.ceil(LABEL_PX / cell_px)))


def labelled_mosaic(maps, ncols: int, band: int) -> np.ndarray:
    """Tile K maps (K, H, W) into one array: NaN (blank) columns between tiles, and `band` blank rows
    above every tile row where its labels go."""
    maps = as_numpy(maps)
    K, H, W = maps.shape
    nrows = -(-K // ncols)
    # (nrows·(band + H), ncols·(W + 1) − 1)
    out = np.full((nrows * (band + H), ncols * (W + 1) - 1), np.nan)
    for o in range(K):
        r, c = divmod(o, ncols)
        top, left = r * (band + H) + band, c * (W + 1)
        out[top : top + H, left : left + W] = maps[o]
    return out


def tile_origin(o: int, ncols: int, H: int, W: int, band: int) -> tuple[int, int]:
    """(row, col) of map o's top-left cell in labelled_mosaic."""
    r, c = divmod(o, ncols)
    return r * (band + H) + band, c * (W + 1)


def maps_mosaic(maps, ncols: int = 8, *, labels=None, title: str | None = None,
                hover_text=None, plot_width: int = MOSAIC_PLOT_WIDTH) -> go.Figure:
    """K maps (K, H, W) tiled into one heatmap trace, one diverging scale, each tile's label in a
    band just above it (never on the tile's cells).

    The height makes the tiles fill `plot_width` px with square cells. `hover_text` (an array
    like the tiled one) replaces the plain value in the hover. The labels go in one layout update
    (adding 32 annotations one by one costs ~0.3 s in plotly).
    """
    maps = as_numpy(maps)
    K, H, W = maps.shape
    ncols = min(ncols, K)
    band = label_band(ncols, W, plot_width) if labels is not None else 1
    tiled = labelled_mosaic(maps, ncols, band)
    cell_px = plot_width / tiled.shape[1]
    top = 40 if title else 10
    m = symmetric_range(maps)
    fig = grid_heatmap(tiled, colorscale=DIVERGING, zmin=-m, zmax=m, title=title,
                       height=int(round(top + 10 + cell_px * tiled.shape[0])))
    if hover_text is None:
        fig.update_traces(hovertemplate="%{z:.3f}<extra></extra>")
    else:
        fig.update_traces(text=hover_text, hovertemplate="%{text} = %{z:.4f}<extra></extra>")
    fig.layout.margin = dict(l=10, r=10, t=top, b=10)
    for axis in (fig.layout.xaxis, fig.layout.yaxis):  # no ticks: the tiles are named by their labels
        axis.showticklabels, axis.ticks, axis.showline = False, "", False
    if labels is not None:
        origins = (tile_origin(o, ncols, H, W, band) for o in range(K))
        fig.layout.annotations = [
            # centred over the tile, its bottom on the tile's top edge: the label sits in the band
            dict(x=col + (W - 1) / 2, y=row - 0.5, text=str(label), showarrow=False,
                 xanchor="center", yanchor="bottom", font=dict(size=11, color=LABEL_COLOR))
            for label, (row, col) in zip(labels, origins)
        ]
    return fig


def kernels_mosaic(weight, ncols: int = 8, *, title: str | None = None,
                   plot_width: int = MOSAIC_PLOT_WIDTH) -> go.Figure:
    """K kernels (K, k, k) on one diverging scale, laid out like the maps they make (8 per row, so
    kernel o sits where map o sits in maps_mosaic), each with its index o above it; hovering a
    weight names it, w_o[m, n]."""
    weight = as_numpy(weight)
    K, k_h, k_w = weight.shape
    ncols = min(ncols, K)
    band = label_band(ncols, k_w, plot_width)
    names = np.full(labelled_mosaic(weight, ncols, band).shape, "", dtype=object)
    for o in range(K):
        row, col = tile_origin(o, ncols, k_h, k_w, band)
        for m in range(k_h):
            for n in range(k_w):
                names[row + m, col + n] = f"w<sub>{o}</sub>[{m}, {n}]"
    return maps_mosaic(weight, ncols, labels=[str(o) for o in range(K)], title=title,
                       hover_text=names.tolist(), plot_width=plot_width)


def relu_figures(z, a, titles: tuple[str, str], height: int = 340) -> tuple[go.Figure, go.Figure]:
    """A feature map before (z) and after (a = ReLU(z)) on the same colour scale."""
    m = symmetric_range(z, a)
    return (signed_heatmap(z, title=titles[0], zmax=m, height=height),
            signed_heatmap(a, title=titles[1], zmax=m, height=height))


# ----- LaTeX with the live numbers -------------------------------------------------------------

def num(v: float, digits: int = 3) -> str:
    """A short decimal for LaTeX: trailing zeros trimmed, no '-0'."""
    s = f"{float(v):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def fixed(v: float, digits: int = 3) -> str:
    """A fixed number of decimals; a value that rounds to zero is 0.000, never −0.000."""
    s = f"{float(v):.{digits}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def elided(values, head: int = 4, tail: int = 2, digits: int = 3) -> str:
    """A comma list of values; with more than head + tail of them, the middle ones become \\dots."""
    v = [fixed(x, digits) for x in as_numpy(values).ravel()]
    if len(v) > head + tail:
        v = [*v[:head], r"\dots", *v[-tail:]]
    return r",\, ".join(v)


def kernel_outputs_latex(maps, summed, i: int, j: int) -> str:
    """shape(z), the K numbers z_o[i, j] (middle ones elided, so the line fits its column), and
    what the one-sum-over-kernels mistake makes of them: shape(Σ_o z_o) and Σ_o z_o[i, j]."""
    maps = as_numpy(maps)
    summed = as_numpy(summed)
    K = maps.shape[0]
    at = f"[{i},{j}]"
    # \bigl( \bigr): opening and closing brackets, so a leading minus is a sign, not "( − 0.05"
    names = {1: rf"z_0{at}", 2: rf"\bigl(z_0{at},\, z_1{at}\bigr)"}.get(
        K, rf"\bigl(z_0{at},\, \dots,\, z_{{{K - 1}}}{at}\bigr)")
    values = elided(maps[:, i, j])
    values = values if K == 1 else rf"\bigl({values}\bigr)"
    shape = ", ".join(str(n) for n in maps.shape)
    lines = [
        rf"\operatorname{{shape}}(z) &= ({shape})",
        rf"{names} &= {values}",
        rf"\operatorname{{shape}}\Big(\sum_o z_o\Big) &= ({summed.shape[0]}, {summed.shape[1]})",
        rf"\sum_o z_o{at} &= {fixed(summed[i, j])}",
    ]
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def output_size_latex(n: int, k: int, s: int, p: int, symbol: str) -> str:
    """One line: n_out = ⌊(n + 2p − k)/s⌋ + 1 with the numbers substituted."""
    top = n + 2 * p - k
    n_out = output_size(n, k, s, p)
    return (rf"{symbol}_{{\text{{out}}}} = \left\lfloor \frac{{{n} + 2\cdot {p} - {k}}}{{{s}}} \right\rfloor + 1"
            rf" = \left\lfloor \frac{{{top}}}{{{s}}} \right\rfloor + 1 = {top // s} + 1 = {n_out}")


def output_sizes_latex(H: int, W: int, k: int, s: int, p: int) -> str:
    """Both axes, aligned."""
    h = output_size_latex(H, k, s, p, "H").replace(" = ", " &= ", 1)
    w = output_size_latex(W, k, s, p, "W").replace(" = ", " &= ", 1)
    return rf"\begin{{aligned}} {h} \\ {w} \end{{aligned}}"


def _term(w: float, x: float) -> str:
    # one term w[m,n]·x[i·s+m, j·s+n], the weight coloured as in the kernel grid
    return rf"{{\color{{{W_COLOR}}}({num(w, 4)})}}({num(x, 2)})"


def cell_sum_latex(trace: ConvCellTrace, i: int, j: int, stride: int) -> str:
    """out[i,j] = Σ_m Σ_n w[m,n]·x[i·s+m, j·s+n] + b, written out with one row per kernel row."""
    w = as_numpy(trace.kernel)
    x = as_numpy(trace.patch)
    k_h, k_w = w.shape
    lines = [
        rf"\text{{out}}[{i},{j}] &= \sum_{{m=0}}^{{{k_h - 1}}} \sum_{{n=0}}^{{{k_w - 1}}} "
        rf"w[m,n]\, x[{i}\cdot {stride}+m,\; {j}\cdot {stride}+n] + b"
    ]
    for m in range(k_h):
        terms = " + ".join(_term(w[m, n], x[m, n]) for n in range(k_w))
        lines.append((r"&= " if m == 0 else r"&\quad + ") + terms)
    lines.append(rf"&\quad + ({num(trace.bias, 4)})")
    products_sum = float(as_numpy(trace.products).sum())
    lines.append(rf"&= {num(products_sum, 4)} + ({num(trace.bias, 4)}) = {num(trace.total, 4)}")
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"
