"""SmolLM2 replayed by our own engine (engine/models/smollm.py) against transformers'
LlamaForCausalLM read from the same GGUF file: the weights (up to llama.cpp's q/k row order),
every layer's hidden state and attention weights and the logits on two prompts (float32), and two
blocks replayed in float64 against an independent float64 reference written with torch's own ops
and Hugging Face's rotate-half RoPE. The logit lens, the parameter count and the RoPE view too.

This is the one module that loads transformers' model (the smollm_ref fixture, ≈25 s)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.models import smollm as lm
from engine.models.smollm_check import compare
from engine.models.smollm_lens import hf_rows, logit_lens, param_count, rope_view

f64 = torch.float64
PROMPTS = ["The capital of France is Paris, and the capital of Germany is",
           "def add(a, b):\n    return a + b  # 加法"]


@pytest.fixture(scope="module")
def traces(smollm, smollm_ref):
    return [lm.forward(smollm, smollm_ref.tokenizer(p)["input_ids"]) for p in PROMPTS]


def test_config_and_parameter_count(smollm):
    cfg = smollm.config
    assert (cfg.d, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.d_ff, cfg.vocab) == \
        (576, 30, 9, 3, 64, 1536, 49152)
    assert cfg.rope_base == 100000.0 and abs(cfg.eps - 1e-5) < 1e-12
    n = param_count(smollm)
    assert n.embeddings == 49152 * 576
    assert n.attention == 30 * (576 * 576 * 2 + 576 * 192 * 2)
    assert n.mlp == 30 * 3 * 576 * 1536
    assert n.norms == 30 * 2 * 576 + 576
    assert n.total == 134_515_008


def test_weights_equal_transformers(smollm, smollm_ref):
    sd = smollm_ref.model.state_dict()
    torch.testing.assert_close(smollm.E, sd["model.embed_tokens.weight"], rtol=0, atol=0)
    torch.testing.assert_close(smollm.g_out, sd["model.norm.weight"], rtol=0, atol=0)
    for l in (0, 29):
        b, p = smollm.blocks[l], f"model.layers.{l}."
        # GGUF row hf_rows[r] is transformers' row r
        torch.testing.assert_close(b.W_q[hf_rows(9)], sd[p + "self_attn.q_proj.weight"], rtol=0, atol=0)
        torch.testing.assert_close(b.W_k[hf_rows(3)], sd[p + "self_attn.k_proj.weight"], rtol=0, atol=0)
        assert not torch.equal(b.W_q, sd[p + "self_attn.q_proj.weight"])
        for ours, name in ((b.W_v, "self_attn.v_proj"), (b.W_o, "self_attn.o_proj"),
                           (b.W_gate, "mlp.gate_proj"), (b.W_up, "mlp.up_proj"),
                           (b.W_down, "mlp.down_proj"), (b.g_attn, "input_layernorm"),
                           (b.g_ffn, "post_attention_layernorm")):
            torch.testing.assert_close(ours, sd[p + name + ".weight"], rtol=0, atol=0)


def test_forward_equals_transformers(smollm_ref, traces):
    for trace in traces:
        gaps = compare(smollm_ref.model, trace)
        assert len(gaps.hidden) == 31 and len(gaps.attention) == 30
        assert gaps.hidden[0] == 0  # the same embedding rows
        # float32 through 30 blocks: every gap far below the values' own scale
        assert max(gaps.hidden_relative) < 1e-5, gaps.hidden_relative
        assert max(gaps.attention) < 1e-4, gaps.attention
        assert gaps.logits / gaps.logits_scale < 1e-5, (gaps.logits, gaps.logits_scale)
        assert gaps.worst_relative < 1e-4


def test_trace_properties(traces):
    trace = traces[0]
    T = len(trace.ids)
    assert trace.logits.shape == (T, 49152) and trace.logits.dtype == torch.float32
    assert len(trace.hidden) == 31 and trace.hidden[5].shape == (T, 576)
    for A in trace.attentions[::7]:
        assert A.shape == (9, T, T) and float(A.triu(1).abs().max()) == 0
        torch.testing.assert_close(A.sum(-1), torch.ones(9, T))
    with pytest.raises(ValueError):
        lm.forward(None, [])


def _reference_block64(layer, cfg, x):
    """Llama's decoder block in float64 with torch's ops, transformers' weights (HF row order) and
    Hugging Face's rotate-half RoPE: independent of engine/ops."""
    w = {k: v.to(f64) for k, v in layer.state_dict().items()}
    T, H, H_kv, hd = x.shape[0], cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    n = F.rms_norm(x, (cfg.d,), w["input_layernorm.weight"], cfg.eps)
    q = F.linear(n, w["self_attn.q_proj.weight"]).view(T, H, hd).transpose(0, 1)
    k = F.linear(n, w["self_attn.k_proj.weight"]).view(T, H_kv, hd).transpose(0, 1)
    v = F.linear(n, w["self_attn.v_proj.weight"]).view(T, H_kv, hd).transpose(0, 1)
    inv_freq = 1.0 / cfg.rope_base ** (torch.arange(0, hd, 2, dtype=f64) / hd)
    phi = torch.arange(T, dtype=f64)[:, None] * inv_freq[None, :]
    cos, sin = torch.cat([phi.cos()] * 2, -1), torch.cat([phi.sin()] * 2, -1)

    def rot(t):
        return t * cos + torch.cat([-t[..., hd // 2:], t[..., : hd // 2]], -1) * sin

    o = F.scaled_dot_product_attention(rot(q)[None], rot(k)[None], v[None], is_causal=True,
                                       enable_gqa=True)[0]
    h = x + F.linear(o.transpose(0, 1).reshape(T, H * hd), w["self_attn.o_proj.weight"])
    m = F.rms_norm(h, (cfg.d,), w["post_attention_layernorm.weight"], cfg.eps)
    mlp = F.linear(F.silu(F.linear(m, w["mlp.gate_proj.weight"])) * F.linear(m, w["mlp.up_proj.weight"]),
                   w["mlp.down_proj.weight"])
    return h + mlp


@pytest.mark.parametrize("l", [1, 20])
def test_float64_block_replay(smollm, smollm_ref, traces, l):
    cfg, x = smollm.config, traces[0].hidden[l].to(f64)
    ours = lm.block(smollm.blocks[l].to(f64), cfg, x).output
    ref = _reference_block64(smollm_ref.model.model.layers[l], cfg, x)
    assert float((ours - ref).abs().max() / ref.abs().max()) < 1e-12


def test_logit_lens(smollm, traces):
    trace = traces[0]
    lens = logit_lens(smollm, trace)
    T = len(trace.ids)
    assert lens.top_id.shape == lens.top_p.shape == lens.final_p.shape == (31, T)
    # the last row is the model's own prediction
    p = torch.softmax(trace.logits, -1)
    assert torch.equal(lens.top_id[-1], trace.logits.argmax(-1))
    torch.testing.assert_close(lens.top_p[-1], p.max(-1).values)
    torch.testing.assert_close(lens.final_p[-1], lens.top_p[-1])
    # one middle layer recomputed directly
    z = F.rms_norm(trace.hidden[12], (576,), smollm.g_out, smollm.config.eps) @ smollm.E.T
    p12 = torch.softmax(z, -1)
    torch.testing.assert_close(lens.top_p[12], p12.max(-1).values)
    assert (lens.top_p > 0).all() and (lens.top_p <= 1).all() and (lens.final_p <= lens.top_p + 1e-6).all()


def test_rope_view(smollm, traces):
    view = rope_view(smollm, traces[0], layer=3, head=4, m=5)
    torch.testing.assert_close(view.angle, 5 * 100000.0 ** (-torch.arange(0, 64, 2, dtype=f64) / 64))
    # each pair keeps its length and turns by m·θ_i
    pairs, turned = view.q.view(32, 2), view.q_rot.view(32, 2)
    torch.testing.assert_close(pairs.norm(dim=1), turned.norm(dim=1), rtol=1e-6, atol=1e-6)
    c, s = view.angle.cos(), view.angle.sin()
    torch.testing.assert_close(turned[:, 0], pairs[:, 0] * c - pairs[:, 1] * s, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        rope_view(smollm, traces[0], layer=30, head=0, m=0)
