"""Pruning: magnitude pruning of the shipped SeedCNN, unstructured (per layer and global) and
structured (whole output channels by their L1 norm), measured on the 1,000 held-out digits; the
masks on conv1's 32 filters, accuracy against sparsity, what a prune saves (a structured prune
builds a smaller network), a fine-tune with the masks held (the training lab's Trainer), the
code and the check against torch.nn.utils.prune.

Glue only: views/prune/parts.py caches the engine's results (engine.models.cnn_prune, cnn_slim,
prune_study), views/prune/finetune.py runs the fine-tune, figures.prune draws.
"""

from __future__ import annotations

import streamlit as st

from engine.models.cnn_prune import MaskedCNN, apply_masks, prune_masks
from engine.models.cnn_slim import shrink
from engine.ops.prune import global_unstructured, kept_channels, l1_unstructured, ln_structured
from figures.prune import Point, curves_figure, mask_figure, prune_latex
from views.prune import parts
from views.prune.finetune import KIND, finetune_section, to_widgets, tuned_points
from widgets.blocks import show_code, torch_check
from widgets.i18n import T
from widgets.training import TrainingPanel

t = T("prune")
REFERENCES = {"layer": "torch.nn.utils.prune.l1_unstructured",
              "global": "torch.nn.utils.prune.global_unstructured(L1Unstructured)",
              "channels": "torch.nn.utils.prune.ln_structured(n=1, dim=0)"}

st.title(t("title"))
st.markdown(t.section("intuition"))
mtime = parts.mtime()
net = parts.network(mtime)
if not net.trained:
    st.warning(t("untrained"))

# ----- the formulas --------------------------------------------------------------------------
st.header(t("formula_header"))
st.latex(r"\begin{aligned}"
         r" W' &= W \odot M,\qquad M_{ij}\in\{0,1\} \\"
         rf" \text{{{t('latex_layer')}}}:&\quad k_l = \operatorname{{round}}(s\cdot n_l),\quad"
         r" M_{ij} = \mathbf{1}\!\left[\,|W_{ij}| > \tau_l\,\right] \\"
         rf" \text{{{t('latex_global')}}}:&\quad k = \operatorname{{round}}\!\Big(s\cdot \sum_l n_l\Big),\quad"
         r" M_{ij} = \mathbf{1}\!\left[\,|W_{ij}| > \tau\,\right] \\"
         rf" \text{{{t('latex_channels')}}}:&\quad \lVert W_c\rVert_1 = \sum_{{i,m,n}} |W_{{c,i,m,n}}|,\quad"
         r" M_{c,\cdot} = \mathbf{1}\!\left[\,\lVert W_c\rVert_1 > \tau_l\,\right],\quad"
         r" k_l = \operatorname{round}(s\cdot C_{\text{out}}) \\"
         r" \text{MACs}_{\text{conv}} &= H_{\text{out}}\,W_{\text{out}}\,C_{\text{out}}\,k^2\,C_{\text{in}}"
         r"\end{aligned}")
st.markdown(t.section("formula"))

# ----- controls ------------------------------------------------------------------------------
panel = TrainingPanel(KIND, to_widgets, task="cnn")
st.header(t("controls_header"))
choice = parts.controls(disabled=panel.active)
if panel.active:
    st.caption(t("locked"))
with st.spinner(t("computing")):
    curves = parts.all_curves(mtime)
rep = parts.prune_report(mtime, choice.method, choice.s)
before = parts.point_accuracy(mtime, choice.method, choice.s)

# ----- the masks on conv1 --------------------------------------------------------------------
st.header(t("masks_header"))
left, right = st.columns([3, 2])
conv1 = rep.pruning.layer("conv1")
with left:
    st.plotly_chart(mask_figure(net.model64.conv1.weight.detach(), conv1, title=t("masks_title"),
                                kept=t("kept"), pruned=t("pruned"), filter_word=t("filter")), key="prune_masks")
with right:
    gone = int((conv1.M == 0).sum())
    st.caption(t("masks_numbers", gone=gone, n=conv1.M.numel(), pct=f"{100 * gone / conv1.M.numel():.1f}",
                 filters=conv1.M.shape[0] - len(kept_channels(conv1))))
n_w = {name: getattr(net.model64, name).weight.numel() for name in ("conv1", "conv2", "conv3", "fc1", "fc2")}
sizes = {"conv1": 32 if choice.method == "channels" else n_w["conv1"], "all": sum(n_w.values())}
# the rule with its numbers takes the page's width (in the narrow column its threshold ran off the edge)
st.latex(prune_latex(rep.pruning, sizes, t(f"tau_{choice.method}")))
st.markdown(t.section("masks"))

# ----- accuracy against sparsity -------------------------------------------------------------
st.header(t("curve_header"))
names = parts.method_names()
tuned = tuned_points(panel)
st.plotly_chart(curves_figure(curves, names, chosen=Point(choice.method, choice.s, before), tuned=tuned,
                              tuned_name=t("tuned_name"), title=t("curve_title"), x_title=t("axis_s"),
                              y_title=t("axis_acc")), key="prune_curves")
cols = st.columns(len(curves))
for col, c in zip(cols, curves, strict=True):
    acc = before if c.method == choice.method else parts.point_accuracy(mtime, c.method, choice.s)
    col.metric(t("acc_at", method=names[c.method], s=f"{100 * choice.s:g}"), f"{acc:.1%}",
               delta=f"{100 * (acc - c.accuracy[0]):+.1f} pp")
st.markdown(t.section("curves"))

# ----- what the prune saves ------------------------------------------------------------------
st.header(t("counts_header"))
st.dataframe(parts.totals_table(rep), hide_index=True)
with st.expander(t("layers_expander")):
    st.dataframe(parts.layers_table(rep), hide_index=True)
if rep.slim is not None:
    st.caption(t("slim_check", n=parts.CHECK_DIGITS, gap=f"{rep.slim_gap:.1e}",
                 ratio=f"{rep.dense.macs / rep.slim.macs:.1f}"))
st.markdown(t.section("counts"))

# ----- the fine-tune -------------------------------------------------------------------------
if net.trained:
    finetune_section(panel, choice, before)
else:
    st.info(t("no_finetune"))

# ----- the code and the check against torch --------------------------------------------------
show_code(l1_unstructured, global_unstructured, ln_structured, prune_masks, apply_masks, shrink, MaskedCNN)
torch_check(parts.torch_check_gap(mtime, choice.method, choice.s), REFERENCES[choice.method])
st.caption(t("check_help", s=f"{100 * choice.s:g}"))

# ----- what next -----------------------------------------------------------------------------
st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/quantise/page.py", label=t("next_quantise"), icon=":material/arrow_back:")
st.page_link("views/roofline/page.py", label=t("next_roofline"), icon=":material/arrow_forward:")
