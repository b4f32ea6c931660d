"""The quantisation page's cached work and its controls, each checked on the server.

The accuracy/size table (21 passes over the 1,000 held-out digits, a few seconds) is computed once
per server and checkpoint under a spinner; a layer at b bits and the torch check once per choice.
"""

from __future__ import annotations

import streamlit as st
import torch

from engine.data.digits import embedded_mnist
from engine.limits import LimitError, check
from engine.models.cnn import Network, checkpoint_mtime, load_network
from engine.models.cnn_quant import (
    WEIGHTED,
    LayerQuant,
    QuantTable,
    layer_quant,
    quant_table,
    torch_logit_gap,
    weight,
)
from engine.ops.quantise import WEIGHT_INDEX
from widgets.i18n import T

t = T("quantise")
BITS_KEY, LAYER_KEY, GRAN_KEY = "qz_bits", "qz_layer", "qz_gran"
DEFAULT_BITS = 4
GRANULARITIES = ("tensor", "channel")
CALIB_SIZE, CALIB_SEED = 256, 0  # the activation ranges: 256 training digits, seed 0
CHECK_DIGITS = 100  # held-out digits in the whole-model torch check


def mtime() -> float | None:
    return checkpoint_mtime()


@st.cache_resource(show_spinner=False)
def network(mtime: float | None) -> Network:
    """The shipped CNN, once per checkpoint (a new checkpoint has a new mtime)."""
    return load_network()


@st.cache_resource(show_spinner=False, max_entries=2)
def _table(mtime: float | None) -> QuantTable:
    split = embedded_mnist()
    return quant_table(network(mtime).model64, split.x_train, split.x_test, split.y_test,
                       calib_size=CALIB_SIZE, seed=CALIB_SEED)


def table(m: float | None) -> QuantTable:
    """Every row of the accuracy/size table, once per server and checkpoint, under a spinner."""
    with st.spinner(t("computing"), show_time=True):
        return _table(m)


@st.cache_resource(show_spinner=False, max_entries=64)
def layer_of(mtime: float | None, name: str, bits: int) -> LayerQuant:
    return layer_quant(network(mtime).model64, name, bits)


@st.cache_resource(show_spinner=False, max_entries=16)
def model_gap(mtime: float | None, bits: int) -> float:
    """max |Δ| of the logits on CHECK_DIGITS held-out digits: ours against torch.fake_quantize_*,
    weights and activations at b bits, both granularities."""
    x = torch.from_numpy(embedded_mnist().x_test[:CHECK_DIGITS])[:, None]
    ranges = _table(mtime).ranges  # the table's calibrated activation ranges (cached)
    return max(torch_logit_gap(network(mtime).model64, x, bits, channelwise, ranges) for channelwise in (False, True))


# ----- controls ------------------------------------------------------------------------------------

def _reset_if_bad(key: str, default, valid, error: LimitError | str) -> None:
    """A value set from code (session state) that the widget cannot show: a translated message,
    and the default instead (never a traceback)."""
    if key in st.session_state and not valid(st.session_state[key]):
        st.error(t.error(error) if isinstance(error, LimitError) else error)
        st.session_state[key] = default
    st.session_state.setdefault(key, default)


def _bits_ok(v) -> bool:
    try:
        check("quant_bits", v)
    except LimitError:
        return False
    return True


def bits_control() -> int:
    raw = st.session_state.get(BITS_KEY)
    _reset_if_bad(BITS_KEY, DEFAULT_BITS, _bits_ok, LimitError("quant_bits", raw, 2, 8))
    return st.select_slider(t("bits"), options=list(range(2, 9)), key=BITS_KEY, help=t("bits_help"))


def layer_control(shapes: dict[str, str]) -> str:
    raw = st.session_state.get(LAYER_KEY)
    _reset_if_bad(LAYER_KEY, WEIGHTED[0], lambda v: v in WEIGHTED, t("err_bad_layer", layer=raw))
    return st.selectbox(t("layer"), WEIGHTED, key=LAYER_KEY, format_func=lambda n: f"{n} · {shapes[n]}",
                        help=t("layer_help"))


def granularity_control() -> bool:
    """True: one (s, z) per output channel."""
    raw = st.session_state.get(GRAN_KEY)
    _reset_if_bad(GRAN_KEY, GRANULARITIES[0], lambda v: v in GRANULARITIES, t("err_bad_gran", gran=raw))
    g = st.radio(t("gran"), GRANULARITIES, key=GRAN_KEY, horizontal=True, format_func=lambda g: t(f"gran_{g}"),
                 help=t("gran_help"))
    return g == "channel"


def index_control(name: str, n: int) -> int:
    """The weight's flat index in its layer, 0 … n − 1; each layer keeps its own."""
    key = f"qz_index_{name}"
    raw = st.session_state.get(key)

    def ok(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n

    _reset_if_bad(key, 0, ok, LimitError(WEIGHT_INDEX, raw, 0, n - 1))
    return int(st.number_input(t("index"), 0, n - 1, step=1, key=key, help=t("index_help", last=n - 1)))


def shapes_of(net: Network) -> dict[str, str]:
    """Each weighted layer's weight shape and count, for the layer picker."""
    out = {}
    for name in WEIGHTED:
        w = weight(net.model64, name)
        out[name] = "×".join(map(str, w.shape)) + f" ({w.numel():,})"
    return out
