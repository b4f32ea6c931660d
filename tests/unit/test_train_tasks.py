"""The training lab's tasks (engine.lab.tasks), their models (engine.models.char_rnn,
engine.models.tiny_transformer), the toy sequence data (engine.data.seq_tasks) and the memory estimates.

Each task trains a few steps with a tiny config and its loss must go down; the tiny Transformer
trained on `reverse` must show the anti-diagonal in at least one head.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data.corpus import VOCAB as CHARS
from engine.data.seq_tasks import (
    IGNORE,
    PLUS,
    SEQ_TASKS,
    VOCAB,
    add_digits,
    digits_to_int,
    input_length,
    make_batch,
    render,
)
from engine.lab.loop import TrainConfig
from engine.lab.tasks import (
    CharConfig,
    CharTask,
    CnnConfig,
    CnnTask,
    MemoryEstimate,
    SeqConfig,
    SeqTask,
    TrainError,
    cnn_activations,
    cnn_params,
    config_dict,
    config_from_dict,
    sub_seed,
)
from engine.lab.trainer import RunConfig, Trainer
from engine.limits import LimitError
from engine.models import char_rnn
from engine.models import cnn as models
from engine.models.char_rnn import (
    CELLS,
    GATE_NAMES,
    CharRNN,
    CharRNNConfig,
    cell_weights,
    gate_trace,
)
from engine.models.char_rnn import param_count as char_params
from engine.models.tiny_transformer import (
    TinyTransformer,
    TinyTransformerConfig,
    anti_diagonal_mass,
    attention_maps,
)
from engine.models.tiny_transformer import param_count as tt_params
from engine.ops import recurrent

CPU = torch.device("cpu")
TEXT = ("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
        "Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date;\n"
        "Sometime too hot the eye of heaven shines,\nAnd often is his gold complexion dimm'd;\n")


def run_steps(task, optim: TrainConfig, steps: int, seed: int = 0) -> Trainer:
    tr = Trainer(task, optim, RunConfig(seed=seed, report_every=1, eval_every=100_000), CPU)
    tr.start()
    assert tr.join(60)
    assert tr.state == "finished", tr.error
    return tr


def train_losses(tr: Trainer) -> list[float]:
    return [r.loss for r in tr.metrics.snapshot().train]


def went_down(losses: list[float], factor: float) -> bool:
    k = max(1, len(losses) // 5)
    return np.mean(losses[-k:]) < factor * np.mean(losses[:k])


# ----- toy sequence data --------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("L", [2, 5, 9])
def test_toy_targets(seed, L):
    g = torch.Generator().manual_seed(seed)
    x, y = make_batch("copy", 16, L, g)
    assert torch.equal(x, y) and x.shape == (16, L)
    x, y = make_batch("reverse", 16, L, g)
    for i in range(L):
        # y_i = x_{L−1−i}
        assert torch.equal(y[:, i], x[:, L - 1 - i])
    x, y = make_batch("sort", 16, L, g)
    assert (y[:, 1:] >= y[:, :-1]).all()
    assert torch.equal(torch.sort(x, dim=1).values, y)
    assert ((0 <= x) & (x <= 9)).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("L", [2, 4, 7])
def test_add_targets_are_the_sums(seed, L):
    x, y = make_batch("add", 32, L, torch.Generator().manual_seed(seed))
    assert x.shape == y.shape == (32, 2 * L + 1) == (32, input_length("add", L))
    assert (x[:, L] == PLUS).all()
    a, b = digits_to_int(x[:, :L]), digits_to_int(x[:, L + 1:])
    assert torch.equal(digits_to_int(y[:, : L + 1]), a + b)
    assert (y[:, L + 1:] == IGNORE).all()


def test_add_digits_carries():
    a, b = torch.tensor([[9, 9, 9]]), torch.tensor([[0, 0, 1]])
    assert add_digits(a, b).tolist() == [[1, 0, 0, 0]]
    assert render(torch.tensor([4, 7, PLUS, 5, 8])) == "47+58"
    assert render(torch.tensor([1, IGNORE])) == "1·"


def test_bad_toy_arguments():
    with pytest.raises(ValueError):
        make_batch("rotate", 4, 4, torch.Generator())
    with pytest.raises(LimitError):
        make_batch("copy", 4, 1, torch.Generator())
    with pytest.raises(LimitError):
        input_length("copy", 33)


# ----- the tiny Transformer -----------------------------------------------------------------


def test_anti_diagonal_mass_on_known_maps():
    T = 5
    mirror = torch.eye(T).flip(-1)
    assert anti_diagonal_mass(mirror).item() == pytest.approx(1.0)
    assert anti_diagonal_mass(torch.full((T, T), 1 / T)).item() == pytest.approx(1 / T)
    assert anti_diagonal_mass(torch.eye(T)).item() == pytest.approx(1 / T)  # only the centre
    w = torch.rand(2, 3, T, T, generator=torch.Generator().manual_seed(0))
    loop = torch.stack([w[..., i, T - 1 - i] for i in range(T)], -1).mean(-1)
    assert torch.allclose(anti_diagonal_mass(w), loop)


@pytest.mark.parametrize("config,T,seed", [
    (TinyTransformerConfig(), 8, 0),
    (TinyTransformerConfig(16, 2, 1, 32, "learned"), 5, 1),
    (TinyTransformerConfig(24, 3, 3, 48), 11, 2),
])
def test_attention_maps_equal_torchs_per_head_weights(config, T, seed):
    model = TinyTransformer(config, VOCAB, T).double().eval()
    ids = torch.randint(0, VOCAB, (3, T), generator=torch.Generator().manual_seed(seed))
    maps = attention_maps(model, ids)
    assert maps.shape == (config.N, 3, config.h, T, T)
    assert torch.allclose(maps.sum(-1), torch.ones((), dtype=maps.dtype), atol=1e-12)
    X = model.inputs(ids)
    for l, layer in enumerate(model.layers):
        A_in = layer.norm1(X)
        _, w = layer.self_attn(A_in, A_in, A_in, need_weights=True, average_attn_weights=False)
        assert (maps[l] - w).abs().max() < 1e-10
        X = layer(X)


@pytest.mark.parametrize("config,T", [(TinyTransformerConfig(), 8), (TinyTransformerConfig(16, 2, 1, 32, "learned"), 9),
                                      (TinyTransformerConfig(48, 6, 4, 100), 17)])
def test_transformer_parameter_formula(config, T):
    model = TinyTransformer(config, VOCAB, T)
    assert tt_params(config, VOCAB, T) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("kwargs,error", [({"d_model": 30, "h": 4}, ValueError), ({"N": 7}, LimitError),
                                          ({"h": 0}, LimitError), ({"positions": "rope"}, ValueError)])
def test_bad_transformer_configs(kwargs, error):
    with pytest.raises(error):
        TinyTransformerConfig(**kwargs)


# ----- the character model ------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("H,seed", [(5, 0), (12, 1)])
def test_gate_trace_matches_the_torch_cell(cell, H, seed):
    torch.manual_seed(seed)
    model = CharRNN(CharRNNConfig(cell, H)).double()
    text = "O Romeo, Romeo!"
    trace = gate_trace(model, text)
    assert set(trace) == set(GATE_NAMES[cell])
    ids = torch.tensor([CHARS.index(ch) for ch in text]).unsqueeze(1)
    h, _ = model.rnn(F.one_hot(ids, len(CHARS)).double())
    assert trace["h"].shape == (len(text), H)
    assert (trace["h"] - h[:, 0]).abs().max() < 1e-12
    if cell == "lstm":
        # c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t, from c_0 = 0
        c_prev = torch.cat([torch.zeros(1, H, dtype=torch.float64), trace["c"][:-1]])
        assert torch.allclose(trace["c"], trace["f"] * c_prev + trace["i"] * trace["g"], atol=1e-12)


def test_char_rnn_parameter_formula_and_weights():
    for cell in CELLS:
        for H in (3, 16):
            model = CharRNN(CharRNNConfig(cell, H))
            assert char_params(model.config) == sum(p.numel() for p in model.parameters())
            G = recurrent.GATES[cell]
            assert cell_weights(model)["weight_ih"].shape == (G * H, len(CHARS))


def test_char_rnn_sampling_works_on_every_cell():
    for cell in CELLS:
        model = CharRNN(CharRNNConfig(cell, 8))
        a = char_rnn.sample(model, "To be", 30, 0.9, seed=4)
        assert len(a) == 30 and set(a) <= set(CHARS)
        assert a == char_rnn.sample(model, "To be", 30, 0.9, seed=4)


def test_bad_char_configs():
    with pytest.raises(ValueError):
        CharRNNConfig("transformer", 8)
    with pytest.raises(LimitError):
        CharRNNConfig("lstm", 300)
    with pytest.raises(LimitError):
        CharConfig(text="too short")  # under 200 characters
    with pytest.raises(TrainError) as e:
        CharConfig(text="x" * 200, T=190)  # 180 training characters cannot hold a window of 191
    assert e.value.code == "text_short"
    with pytest.raises(Exception) as e:
        CharConfig(temperature=0.0)
    assert e.value.code == "temperature"


# ----- memory estimates ---------------------------------------------------------------------


def test_cnn_estimate_on_the_default_config():
    model = models.SeedCNN()
    assert cnn_params() == models.count_parameters(model) == 93_322
    # A: every intermediate of the forward pass (the trace) plus the augmented input
    tr = models.trace(model, torch.zeros(1, 1, 28, 28))
    kept = [tr.x, tr.z1, tr.a1, tr.p1, tr.z2, tr.a2, tr.p2, tr.z3, tr.a3, tr.flat, tr.z4, tr.a4, tr.logits]
    assert cnn_activations() == 784 + sum(t.numel() for t in kept) == 69_194
    est = CnnTask(CnnConfig(batch_size=64)).estimate()
    # 16·P + 4·A·max(2·64, 500) + (4·784 + 8)·5000
    assert est.bytes == 16 * 93_322 + 4 * 69_194 * 500 + 3_144 * 5_000 == 155_601_152
    big = CnnTask(CnnConfig(batch_size=4096)).estimate()
    assert big.bytes == 16 * 93_322 + 4 * 69_194 * 8192 + 3_144 * 5_000
    full = CnnTask(CnnConfig(dataset="mnist-full", batch_size=64)).estimate()
    assert full.D == 3_144 * 70_000


def test_memory_estimate_formula():
    est = MemoryEstimate(P=10, A=100, B=4, E=3, D=7)
    assert est.bytes == 16 * 10 + 4 * 100 * 8 + 7
    assert MemoryEstimate(P=10, A=100, B=4, E=50, D=7).bytes == 160 + 4 * 100 * 50 + 7
    assert est.as_params()["bytes"] == est.bytes


@pytest.mark.parametrize("cell", CELLS)
def test_char_estimate(cell):
    task = CharTask(CharConfig(cell=cell, H=32, B=8, T=20, text=TEXT))
    est = task.estimate()
    G = recurrent.GATES[cell]
    V = len(CHARS)
    assert est.P == sum(p.numel() for p in CharRNN(CharRNNConfig(cell, 32)).parameters())
    assert est.A == 20 * (3 * V + (2 * G + 3) * 32)
    assert est.D == 8 * len(TEXT)
    assert est.bytes == 16 * est.P + 4 * est.A * 64 + 8 * len(TEXT)


def test_seq_estimate():
    cfg = SeqConfig(task="add", length=3, B=16, held_out=100, model=TinyTransformerConfig(16, 2, 2, 40))
    est = SeqTask(cfg).estimate()
    T, d, V = 7, 16, VOCAB
    assert est.P == sum(p.numel() for p in TinyTransformer(cfg.model, V, T).parameters())
    assert est.A == T * (3 * d + 2 * V) + 2 * (T * (10 * d + 2 * 40) + 2 * 2 * T * T)
    assert est.bytes == 16 * est.P + 4 * est.A * 100 + 2 * 8 * 100 * T


def test_estimates_grow_with_the_batch():
    for make in (lambda B: CnnTask(CnnConfig(batch_size=B)), lambda B: CharTask(CharConfig(B=B)),
                 lambda B: SeqTask(SeqConfig(B=B))):
        sizes = [make(B).estimate().bytes for B in (256, 1024, 4096)]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


# ----- seeds and configs --------------------------------------------------------------------


def test_sub_seeds_are_stable_and_distinct():
    assert sub_seed(0, 3, 5) == sub_seed(0, 3, 5)
    seeds = {sub_seed(s, t, k) for s in range(3) for t in range(3) for k in range(50)}
    assert len(seeds) == 450
    assert all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize("kind,config", [
    ("cnn", CnnConfig(batch_size=32, augment=False)),
    ("char", CharConfig(cell="gru", text=TEXT)),
    ("seq", SeqConfig(task="sort", model=TinyTransformerConfig(16, 2, 1, 32))),
])
def test_configs_round_trip_through_plain_dicts(kind, config):
    assert config_from_dict(kind, config_dict(config)) == config


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"epochs": 101}, {"dataset": "cifar"},
                                    {"augment": "yes"}])
def test_bad_cnn_configs(kwargs):
    with pytest.raises((LimitError, ValueError)):
        CnnConfig(**kwargs)


# ----- a small training subset and dropout (the training knobs page, regularisation) ----------


@pytest.mark.parametrize("kwargs", [{"train_size": 9}, {"train_size": 4001}, {"train_size": 500.0},
                                    {"train_size": True}, {"dropout": -0.1}, {"dropout": 0.95},
                                    {"dropout": float("nan")}, {"dropout": "0.5"}])
def test_bad_subset_and_dropout_are_limit_errors(kwargs):
    with pytest.raises(LimitError) as info:
        CnnConfig(**kwargs)
    assert info.value.code == "limit" and info.value.params["name"] in kwargs


def test_new_fields_default_to_the_old_task_and_round_trip():
    assert CnnConfig().train_size is None and CnnConfig().dropout == 0.0
    config = CnnConfig(batch_size=50, augment=False, train_size=500, dropout=0.5)
    assert config_from_dict("cnn", config_dict(config)) == config
    # a checkpoint written before the fields existed still reads (the defaults fill them)
    old = {k: v for k, v in config_dict(CnnConfig()).items() if k not in ("train_size", "dropout")}
    assert config_from_dict("cnn", old) == CnnConfig()


@pytest.mark.parametrize("n,seed", [(500, 0), (37, 1), (10, 2), (1234, 3)])
def test_stratified_subset_is_proportional_seeded_and_fixed(n, seed):
    from engine.lab.tasks.cnn import stratified_subset

    y = np.random.default_rng(seed).choice(10, size=4000, p=np.linspace(0.05, 0.15, 10))
    idx = stratified_subset(y, n)
    assert len(idx) == n == len(set(idx.tolist())) and np.all(np.diff(idx) > 0)
    share = n * np.bincount(y, minlength=10) / len(y)
    got = np.bincount(y[idx], minlength=10)
    assert np.all(np.abs(got - share) < 1)  # each class within one image of its share
    assert np.array_equal(idx, stratified_subset(y, n))  # fixed
    assert not np.array_equal(idx, stratified_subset(y, n, seed=99))  # the seed picks the images


def test_the_task_trains_on_the_fixed_subset_with_the_full_held_out_split():
    from engine.lab.tasks.cnn import stratified_subset

    a, b = CnnTask(CnnConfig(train_size=500, batch_size=50)), CnnTask(CnnConfig(train_size=500, batch_size=50))
    assert a.n_train == 500 and a.steps_per_epoch == 10 and a.total_steps == 10 * a.config.epochs
    assert a.estimate().D < CnnTask(CnnConfig(batch_size=50)).estimate().D
    a.prepare(CPU)
    b.prepare(CPU)
    assert a.x_train.shape == (500, 1, 28, 28) and a.x_test.shape[0] == a.n_test == 1000
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert torch.bincount(a.y_train, minlength=10).tolist() == [50] * 10
    full = embedded_split()
    keep = stratified_subset(full.y_train, 500)
    assert torch.equal(a.y_train, torch.as_tensor(full.y_train[keep]))


def test_the_task_builds_its_model_with_dropout_and_the_seeded_weights():
    task = CnnTask(CnnConfig(dropout=0.5))
    model, plain = task.make_model(3), CnnTask().make_model(3)
    assert model.dropout == 0.5 and plain.dropout == 0.0 and model.training
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), plain.parameters(), strict=True))


def embedded_split():
    from engine.data.digits import embedded_mnist

    return embedded_mnist()


# ----- training: each task's loss goes down -------------------------------------------------


def test_the_cnn_learns_and_its_probe_is_consistent():
    task = CnnTask(CnnConfig(batch_size=32, epochs=1, augment=False))
    tr = Trainer(task, TrainConfig("adam", 2e-3, "constant"), RunConfig(report_every=1, eval_every=100_000), CPU)
    for _ in range(30):
        target = tr.step + 1
        tr.step_once()
        while tr.step < target:
            time.sleep(0.002)
    losses = train_losses(tr)
    assert went_down(losses, 0.7), losses
    p = tr.probe()
    n_test = task.n_test
    assert p["confusion"].sum() == n_test
    # the confusion matrix's diagonal is the held-out accuracy
    assert p["confusion"].trace().item() / n_test == pytest.approx(tr.evaluate()["held_out_accuracy"])
    assert (p["misclassified_true"] != p["misclassified_pred"]).all()
    assert torch.equal(p["filters"], tr.model.conv1.weight.detach())
    x = p["probe_image"].reshape(1, 1, 28, 28)
    assert torch.allclose(p["feature_maps"], F.relu(tr.model.conv1(x))[0].detach(), atol=1e-6)
    assert p["feature_maps"].shape == (32, 26, 26)
    probs = tr.classify(p["probe_image"].numpy())
    assert probs.shape == (10,) and probs.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(probs, p["probe_probs"], atol=1e-6)
    with pytest.raises(ValueError):
        tr.classify(np.zeros((20, 20)))
    tr.stop()


@pytest.mark.parametrize("cell", CELLS)
def test_the_char_model_learns_a_pasted_text(cell):
    task = CharTask(CharConfig(cell=cell, H=48, B=16, T=32, steps=60, text=TEXT, sample_chars=40))
    tr = run_steps(task, TrainConfig("adam", 1e-2, "constant", clip=1.0), 60)
    assert went_down(train_losses(tr), 0.85)
    snap = tr.metrics.snapshot()
    assert snap.last_eval.step == 60 and np.isfinite(snap.last_eval.held_out_loss)
    assert len(snap.samples[-1].text) == 40 and snap.samples[-1].step == 60
    probe = tr.probe()
    assert set(GATE_NAMES[cell]) <= set(probe) and probe["h"].shape == (len(task.config.probe_text), 48)
    assert len(tr.sample(temperature=0.5, n=25)) == 25


def test_the_char_model_trains_on_shakespeare():
    task = CharTask(CharConfig(H=32, B=8, T=32, steps=25))
    tr = run_steps(task, TrainConfig("adam", 1e-2, "constant"), 25)
    assert went_down(train_losses(tr), 0.85)


@pytest.mark.parametrize("name", SEQ_TASKS)
def test_the_transformer_learns_each_toy_task(name):
    steps = 80 if name == "add" else 40  # adding needs a little longer to beat the digits' base rate
    cfg = SeqConfig(task=name, length=4, B=32, steps=steps, held_out=64, model=TinyTransformerConfig(16, 2, 1, 32))
    tr = run_steps(SeqTask(cfg), TrainConfig("adam", 1e-2, "constant"), steps)
    assert went_down(train_losses(tr), 0.9 if name == "add" else 0.8)
    ev = tr.metrics.snapshot().last_eval
    assert 0.0 <= ev.exact_match <= ev.held_out_accuracy <= 1.0


def test_reverse_makes_an_anti_diagonal_head():
    cfg = SeqConfig(task="reverse", length=8, B=32, steps=150)  # d_model=32, h=4, N=2
    tr = run_steps(SeqTask(cfg), TrainConfig("adam", 1e-2, "one_cycle"), 150)
    p = tr.probe()
    assert p["attention"].shape == (2, 4, 8, 8)
    assert torch.allclose(p["attention"].sum(-1), torch.ones(()), atol=1e-5)
    assert p["anti_diagonal"].max().item() > 0.5, p["anti_diagonal"]
    assert torch.equal(p["prediction"], p["target"])
    assert tr.metrics.snapshot().last_eval.exact_match > 0.9


def test_an_untrained_transformer_has_no_anti_diagonal_head():
    task = SeqTask(SeqConfig(task="reverse", length=8))
    task.prepare(CPU)
    p = task.probe(task.make_model(0))
    assert p["anti_diagonal"].max().item() < 0.5  # the trained test above is not a tautology


def test_tasks_need_prepare_first():
    with pytest.raises(TrainError) as e:
        next(SeqTask().batches(0))
    assert e.value.code == "not_prepared"


def test_batches_resume_at_any_step():
    task = SeqTask(SeqConfig(B=4))
    task.prepare(CPU)
    it = task.batches(7)
    first = [next(it) for _ in range(5)]
    later = next(task.batches(7, start=3))
    assert all(torch.equal(a, b) for a, b in zip(first[3], later))
    cnn = CnnTask(CnnConfig(batch_size=1000, augment=True))
    cnn.prepare(CPU)
    seq = cnn.batches(1)
    run = [next(seq) for _ in range(6)]  # crosses into the second epoch (4 steps an epoch)
    again = next(cnn.batches(1, start=5))
    assert all(torch.equal(a, b) for a, b in zip(run[5], again))


def test_the_cnn_sees_every_image_once_an_epoch():
    task = CnnTask(CnnConfig(batch_size=300, augment=False))
    task.prepare(CPU)
    it = task.batches(0)
    labels = torch.cat([next(it)[1] for _ in range(task.steps_per_epoch)])
    assert labels.numel() == task.n_train
    assert torch.equal(torch.bincount(labels, minlength=10), torch.bincount(task.y_train, minlength=10))


def test_models_start_from_the_seed():
    for task in (CnnTask(), CharTask(CharConfig(text=TEXT)), SeqTask()):
        a, b, c = task.make_model(5), task.make_model(5), task.make_model(6)
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.equal(p, q), name
        assert any(not torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters()))
        assert isinstance(a, nn.Module)


def test_a_checkpoint_saved_before_the_new_fields_existed_is_accepted_on_upload():
    """engine.lab.checkpoints reads a missing setting as its default (the run was trained with it),
    and still refuses a setting that really differs."""
    from engine.lab import checkpoints

    task = CnnTask(CnnConfig(batch_size=64))
    optim = TrainConfig()
    old = {k: v for k, v in config_dict(task.config).items() if k not in ("train_size", "dropout")}
    blob = {"task": "cnn", "config": old, "optim": config_dict(optim), "step": 0}
    checkpoints._check_settings(blob, task, optim)  # no error
    blob["config"] = {**old, "dropout": 0.5}
    with pytest.raises(TrainError) as info:
        checkpoints._check_settings(blob, task, optim)
    assert info.value.params["fields"] == ["dropout"]
