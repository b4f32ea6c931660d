"""Figures for the article's CNN: feature-map mosaics, the flattened vector, dense activations,
probabilities, learned filters, and the LaTeX of each stage with the live numbers substituted.

Every function takes engine results (the typed trace engine.models.cnn.CNNTrace and its layer
records, summary rows, or plain tensors for the mosaic primitives) and returns a plotly figure or
a LaTeX string; nothing here runs the network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from engine.models.cnn import Cell, CNNLayer, CNNTrace, ConvCellParts, DenseUnit, LayerRow
from figures.common import DIVERGING, POSITIVE, add_box, as_numpy, bars, heatmap

CELL_BOX = "#F59E0B"  # the cell whose formula is written out


# ----- numbers in LaTeX --------------------------------------------------------------------------

def num(v: float, digits: int = 3) -> str:
    """A number for LaTeX: fixed point, or m×10^e when very large or very small."""
    v = float(v)
    if v != 0 and not 1e-3 <= abs(v) < 1e5:
        e = math.floor(math.log10(abs(v)))
        return f"{v / 10**e:.{digits}f}\\times 10^{{{e}}}"
    s = f"{v:.{digits}f}"
    return "0" if float(s) == 0 else s


def term(v: float, digits: int = 3) -> str:
    """A number as a term of a sum: negatives in parentheses."""
    s = num(v, digits)
    return f"({s})" if float(v) < 0 else s


# ----- figures -------------------------------------------------------------------------------------

def symmetric_max(a) -> float:
    a = as_numpy(a)
    return max(float(np.nanmax(np.abs(a))) if a.size else 0.0, 1e-6)


LABEL_PX = 10  # channel labels' font size
BAND_PX = 14  # the room their digits need above a tile, in pixels (they are ~10 px tall)


def label_band(W: int, ncols: int, plot_width: int = 300) -> int:
    """Blank rows above each tile row, tall enough for the channel labels to sit there instead
    of on the maps: about BAND_PX pixels at the cell size a plot_width-pixel wide mosaic gets."""
    cell_px = plot_width / (ncols * (W + 1) - 1)
    return max(1, math.ceil(BAND_PX / cell_px))


def tile_origin(k: int, ncols: int, H: int, W: int, band: int = 1) -> tuple[int, int]:
    """Top-left cell of tile k in banded_mosaic's layout: a label band above every tile row,
    one blank column between tiles."""
    r, c = divmod(k, ncols)
    return r * (H + band) + band, c * (W + 1)


def banded_mosaic(maps: np.ndarray, ncols: int, band: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile K maps (K, H, W) into one array, NaN in the gaps and label bands; with it, the
    tile index of every cell (-1 in the gaps) for the hover text."""
    K, H, W = maps.shape
    nrows = -(-K // ncols)
    out = np.full((nrows * (H + band), ncols * (W + 1) - 1), np.nan)
    tile = np.full(out.shape, -1, dtype=np.int64)
    for k in range(K):
        r0, c0 = tile_origin(k, ncols, H, W, band)
        out[r0 : r0 + H, c0 : c0 + W] = maps[k]
        tile[r0 : r0 + H, c0 : c0 + W] = k
    return out, tile


def labelled_mosaic(maps: np.ndarray, ncols: int, labels: Sequence[str], band: int, *, title: str | None,
                    colorscale: str, zmid: float | None, height: int) -> go.Figure:
    """Maps as one heatmap trace, each tile's label in the blank band above it (never on the
    map); hovering a cell also names its channel."""
    K, H, W = maps.shape
    tiled, tile = banded_mosaic(maps, ncols, band)
    fig = heatmap(tiled, title=title, colorscale=colorscale, zmid=zmid, height=height)
    names = np.asarray([*labels, ""], dtype=object)[tile]  # tile -1 (gaps) → ""
    fig.update_traces(customdata=names, hoverongaps=False, xgap=0, ygap=0,
                      hovertemplate="#%{customdata}: %{z:.3f}<extra></extra>")
    axis = dict(showticklabels=False, ticks="", zeroline=False, showline=False)
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    # one update_layout with every label: add_annotation one at a time re-validates the whole
    # layout each call (~15 ms per label for 64 maps)
    fig.update_layout(annotations=[
        dict(x=tile_origin(k, ncols, H, W, band)[1] - 0.5, y=tile_origin(k, ncols, H, W, band)[0] - 0.5,
             text=str(label), showarrow=False, xanchor="left", yanchor="bottom",
             font=dict(size=LABEL_PX, color="#B45309"))
        for k, label in enumerate(labels)
    ])
    return fig


def mosaic_columns(K: int, H: int) -> int:
    """Tiles per row: 4 for large maps (26×26) so the digit stays visible, else 8."""
    return min(K, 4 if H >= 20 else 8)


def mosaic_height(K: int, H: int, W: int, ncols: int, plot_width: int = 420, band: int = 1) -> int:
    """A figure height that fits the mosaic's aspect (label bands included) in a half-page column."""
    nrows = -(-K // ncols)
    grid_h, grid_w = nrows * (H + band), ncols * (W + 1) - 1
    return int(min(560, max(200, 60 + plot_width * grid_h / grid_w)))


def maps_figure(maps, channels: Sequence[int], *, signed: bool, title: str | None = None,
                cell: tuple[int, int, int] | None = None, box: int = 1, ncols: int | None = None,
                height: int | None = None) -> go.Figure:
    """Feature maps (K, H, W) of the listed channels as one mosaic, each labelled with its
    channel above the tile; the box×box cells from `cell` = (tile, i, j) are outlined.

    Signed maps (pre-activations z) use a diverging scale centred on 0; non-negative ones
    (after ReLU or pooling) a sequential scale starting at 0.
    """
    maps = as_numpy(maps)
    K, H, W = maps.shape
    ncols = min(ncols, K) if ncols is not None else mosaic_columns(K, H)
    band = label_band(W, ncols)
    fig = labelled_mosaic(maps, ncols, [str(c) for c in channels], band, title=title,
                          colorscale=DIVERGING if signed else POSITIVE, zmid=0.0 if signed else None,
                          height=height or mosaic_height(K, H, W, ncols, band=band))
    m = symmetric_max(maps)
    fig.update_traces(zmin=-m if signed else 0.0, zmax=m)
    if cell is not None:
        k, i, j = cell
        r0, c0 = tile_origin(k, ncols, H, W, band)
        # the tile of the written-out channel, then the cell(s) themselves
        add_box(fig, r0, c0, H, W, color=CELL_BOX, line_width=1)
        add_box(fig, r0 + i, c0 + j, box, box, color=CELL_BOX, line_width=2.5)
    return fig


def layer_figures(layer: CNNLayer, lo: int, hi: int, cell: Cell,
                  titles: tuple[str, str]) -> tuple[go.Figure, go.Figure]:
    """A layer's channels lo…hi before and after it: z and ReLU(z) for a convolution (z on a
    signed scale), a and its max-pooled p for a pooling layer. `cell` = (tile, i, j) is the
    written-out output cell; on the pooling input its whole 2×2 window is outlined."""
    channels = list(range(lo, hi + 1))
    conv = layer.kind == "conv"
    src_cell, box = ((cell.k, cell.i, cell.j), 1) if conv else ((cell.k, 2 * cell.i, 2 * cell.j), 2)
    before = maps_figure(layer.before[lo : hi + 1], channels, signed=conv, title=titles[0], cell=src_cell, box=box)
    after = maps_figure(layer.after[lo : hi + 1], channels, signed=False, title=titles[1],
                        cell=(cell.k, cell.i, cell.j))
    return before, after


def flatten_figure(tr: CNNTrace, *, title: str | None = None, cell: Cell | None = None,
                   height: int = 230) -> go.Figure:
    """The flattened vector f (H·W·C = 576) of a batch-free trace, drawn as H·W rows of C channels:
    Keras's channels-last order.

    Row r = i·W + j holds a3[:, i, j]; reading the rows one after another gives f.
    `cell` = (c, i, j) outlines one element.
    """
    a3 = as_numpy(tr.a3)
    C, H, W = a3.shape
    # (C, H, W) → (H, W, C) → (H·W, C): row-major reading of this matrix is the vector f
    rows = a3.transpose(1, 2, 0).reshape(H * W, C)
    fig = heatmap(rows, title=title, colorscale=POSITIVE, zmin=0.0, height=height,
                  y_labels=[f"({i},{j})" for i in range(H) for j in range(W)],
                  x_labels=list(range(C)))
    fig.update_traces(hovertemplate="(i,j)=%{y}, c=%{x}<br>%{z:.3f}<extra></extra>", xgap=0, ygap=1)
    fig.update_yaxes(type="category")
    fig.update_xaxes(showticklabels=False)
    if cell is not None:
        add_box(fig, cell.i * W + cell.j, cell.k, 1, 1, color=CELL_BOX, line_width=2.5)
    return fig


def dense_figure(tr: CNNTrace, row_labels: tuple[str, str], *, title: str | None = None,
                 unit: int | None = None, height: int = 170) -> go.Figure:
    """The dense layer's 64 pre-activations z_4 and activations ReLU(z_4) as a two-row strip."""
    z = np.stack([as_numpy(tr.z4), as_numpy(tr.a4)])  # (2, 64)
    m = symmetric_max(z)
    fig = heatmap(z, title=title, colorscale=DIVERGING, zmid=0.0, zmin=-m, zmax=m, height=height,
                  y_labels=list(row_labels), x_labels=list(range(z.shape[1])))
    fig.update_traces(hovertemplate="%{y}, unit %{x}<br>%{z:.3f}<extra></extra>", xgap=1, ygap=2)
    fig.update_yaxes(type="category", scaleanchor=None)
    fig.update_xaxes(showticklabels=False)
    if unit is not None:
        add_box(fig, 0, unit, 2, 1, color=CELL_BOX, line_width=2.5)
    return fig


def probability_figure(tr: CNNTrace, *, title: str | None = None, height: int = 300) -> go.Figure:
    """softmax probabilities of the 10 digits, the most likely one highlighted."""
    p = as_numpy(tr.probs)
    fig = bars(p, [str(k) for k in range(len(p))], title=title, highlight=int(p.argmax()),
               height=height, fmt=".3f")
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%")
    fig.update_xaxes(type="category")
    return fig


def logits_figure(tr: CNNTrace, *, title: str | None = None, height: int = 260) -> go.Figure:
    """The 10 logits z_k (signed), the largest highlighted."""
    z = as_numpy(tr.logits)
    fig = bars(z, [str(k) for k in range(len(z))], title=title, highlight=int(z.argmax()),
               height=height, fmt=".2f")
    fig.update_xaxes(type="category")
    pad = 0.15 * (float(z.max()) - min(float(z.min()), 0.0) + 1e-6)
    fig.update_yaxes(range=[min(float(z.min()), 0.0) - pad, float(z.max()) + pad])
    return fig


def filters_figure(weight, *, title: str | None = None, ncols: int = 8) -> go.Figure:
    """The first layer's kernels (C_out, 1, k, k) as one mosaic on a diverging scale, each
    numbered in the band above it."""
    w = as_numpy(weight)[:, 0]  # (C_out, k, k)
    K, k_h, k_w = w.shape
    band = label_band(k_w, ncols, plot_width=360)
    fig = labelled_mosaic(w, ncols, [str(c) for c in range(K)], band, title=title, colorscale=DIVERGING,
                          zmid=0.0, height=mosaic_height(K, k_h, k_w, ncols, 400, band=band))
    m = symmetric_max(w)
    fig.update_traces(zmin=-m, zmax=m)
    return fig


# ----- LaTeX of each stage -------------------------------------------------------------------------

def _shape(shape: Sequence[int]) -> str:
    return r"\times".join(str(s) for s in shape)


def pipeline_latex(rows: Sequence[LayerRow]) -> str:
    """The whole network as equations, each with the output shape the model itself reports."""
    shape = {r.name: _shape(r.output_shape) for r in rows}
    lines = [
        rf"z_1 &= W_1 \star x + b_1, & a_1 &= \mathrm{{ReLU}}(z_1) & &{shape['conv1']}",
        rf"p_1 &= \mathrm{{maxpool}}_{{2\times2}}(a_1) & & & &{shape['pool1']}",
        rf"z_2 &= W_2 \star p_1 + b_2, & a_2 &= \mathrm{{ReLU}}(z_2) & &{shape['conv2']}",
        rf"p_2 &= \mathrm{{maxpool}}_{{2\times2}}(a_2) & & & &{shape['pool2']}",
        rf"z_3 &= W_3 \star p_2 + b_3, & a_3 &= \mathrm{{ReLU}}(z_3) & &{shape['conv3']}",
        rf"f &= \mathrm{{flatten}}(a_3) & & & &{shape['flatten']}",
        rf"z_4 &= W_4 f + b_4, & a_4 &= \mathrm{{ReLU}}(z_4) & &{shape['fc1']}",
        rf"z_5 &= W_5 a_4 + b_5, & \hat{{y}} &= \mathrm{{softmax}}(z_5) & &{shape['fc2']}",
    ]
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def conv_formula_latex(layer: int, C_in: int, src: str) -> str:
    """z_l[c,i,j] = Σ_c' Σ_m Σ_n W_l[c,c',m,n] src[c', i+m, j+n] + b_l[c]  (stride 1, no padding)."""
    l = layer
    if C_in == 1:  # one input channel: no sum over c'
        return (rf"z_{l}[c,i,j] = \sum_{{m=0}}^{{2}} \sum_{{n=0}}^{{2}} W_{l}[c,0,m,n]\; {src}[0,\, i+m,\, j+n]"
                rf" + b_{l}[c], \qquad a_{l} = \max(0,\, z_{l})")
    return (rf"z_{l}[c,i,j] = \sum_{{c'=0}}^{{{C_in - 1}}} \sum_{{m=0}}^{{2}} \sum_{{n=0}}^{{2}}"
            rf" W_{l}[c,c',m,n]\; {src}[c',\, i+m,\, j+n] + b_{l}[c], \qquad a_{l} = \max(0,\, z_{l})")


def conv_cell_latex(layer: int, c: int, i: int, j: int, parts: ConvCellParts) -> str:
    """One conv output cell with the live numbers.

    With one input channel the terms shown are the k·k products w·x; otherwise each input
    channel's sum Σ_m Σ_n W·x.
    """
    if len(parts.cells) == 1:
        cell = parts.cells[0]
        pairs = zip(cell.kernel.flatten().tolist(), cell.patch.flatten().tolist(), strict=True)
        terms = [f"{term(w, 2)}\\cdot{num(x, 2)}" for w, x in pairs]
    else:
        terms = [term(cell.total) for cell in parts.cells]
    body = " + ".join(terms[:3]) + r" + \cdots + " + terms[-1]
    z = parts.z
    a = max(0.0, float(z))
    return (r"\begin{aligned}"
            rf"z_{layer}[{c},{i},{j}] &= {body} + {term(parts.bias)} = {num(z)} \\"
            rf"a_{layer}[{c},{i},{j}] &= \max(0,\, {num(z)}) = {num(a)}"
            r"\end{aligned}")


def pool_formula_latex(layer: int) -> str:
    """p_l[c,i,j] = max over the 2×2 window of a_l at (2i, 2j)."""
    return rf"p_{layer}[c,i,j] = \max_{{0 \le m,n < 2}} a_{layer}[c,\, 2i+m,\, 2j+n]"


def pool_cell_latex(layer: int, c: int, i: int, j: int, window: Sequence[float], out: float) -> str:
    values = ", ".join(num(v) for v in window)
    return rf"p_{layer}[{c},{i},{j}] = \max({values}) = {num(out)}"


def flatten_latex(tr: CNNTrace, cell: Cell | None = None) -> str:
    """f[(i·W + j)·C + c] = a_3[c, i, j]: Keras flattens channels last; `cell` = (c, i, j) written out."""
    C, H, W = tr.a3.shape
    lines = [rf"f[(i\cdot {W} + j)\cdot {C} + c] &= a_3[c,i,j]"]
    if cell is not None:
        c, i, j = cell.k, cell.i, cell.j
        k = (i * W + j) * C + c
        lines.append(rf"f[{k}] &= f[({i}\cdot {W} + {j})\cdot {C} + {c}]")
        lines.append(rf"&= a_3[{c},{i},{j}] = {num(float(tr.a3[c, i, j]))}")
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def dense_latex(unit: DenseUnit, src: str, relu: bool = True) -> str:
    """z_l[u] = Σ_k W_l[u,k] src[k] + b_l[u], with the live numbers for unit u."""
    l, u = unit.layer, unit.unit
    lines = [rf"z_{l}[u] &= \sum_{{k=0}}^{{{unit.n_in - 1}}} W_{l}[u,k]\, {src}[k] + b_{l}[u]",
             rf"z_{l}[{u}] &= {num(unit.dot)} + {term(unit.bias)} = {num(unit.z)}"]
    if relu:
        lines.append(rf"a_{l}[{u}] &= \max(0,\, {num(unit.z)}) = {num(max(0.0, unit.z))}")
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def softmax_latex(tr: CNNTrace, k: int | None = None, per_line: int = 5) -> str:
    """ŷ[k] = e^{z_5[k]} / Σ_j e^{z_5[j]} with the live logits z_5, for class k (default: the top one).

    The sum is written out `per_line` terms a line and its value gets a line of its own, so
    the formula stays narrow enough for its column.
    """
    z = as_numpy(tr.logits)
    p = as_numpy(tr.probs)
    k = int(p.argmax()) if k is None else k
    # S = Σ_j e^{z_j}
    S = float(np.exp(z).sum())
    exps = [f"e^{{{num(v, 2)}}}" for v in z]
    chunks = [" + ".join(exps[i : i + per_line]) for i in range(0, len(exps), per_line)]
    sum_lines = [rf"\sum_{{j=0}}^{{{len(z) - 1}}} e^{{z_5[j]}} &= {chunks[0]}"]
    sum_lines += [rf"&\quad + {chunk}" for chunk in chunks[1:]]
    sum_lines.append(rf"&= {num(S)}")
    lines = [
        rf"\hat{{y}}[k] &= \frac{{e^{{z_5[k]}}}}{{\sum_{{j=0}}^{{{len(z) - 1}}} e^{{z_5[j]}}}}",
        *sum_lines,
        rf"\hat{{y}}[{k}] &= \frac{{e^{{{num(z[k], 2)}}}}}{{{num(S)}}} = {num(p[k], 4)}",
    ]
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"
