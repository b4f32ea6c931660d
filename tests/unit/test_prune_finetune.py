"""The pruning page's fine-tune through the training lab: a CNN run that starts from the shipped
weights, pruned, keeps every pruned weight exactly 0 after every optimiser step (Trainer and
run_steps), keeps SeedCNN's checkpoint format, and the held-out curve of engine.models.prune_study."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from engine.lab.loop import TrainConfig, make_optimizer, run_steps
from engine.lab.tasks import CnnConfig, CnnTask, config_from_dict
from engine.lab.trainer import RunConfig, Trainer, restore
from engine.limits import LimitError
from engine.models import cnn as models
from engine.models.cnn_prune import MaskedCNN, prune_masks
from engine.models.prune_study import HeldOut, accuracy, accuracy_curve, held_out

CPU = torch.device("cpu")


def small(method: str, s: float, **kw) -> CnnConfig:
    return CnnConfig("mnist-5k", 16, 1, False, train_size=64, start="shipped", prune=method, sparsity=s, **kw)


def pruned_are_zero(model: MaskedCNN) -> bool:
    return all(bool((getattr(model, n).weight[getattr(model, f"mask_{n}") == 0] == 0).all()) for n in model.masked)


def test_defaults_are_unchanged_and_old_configs_still_read():
    c = CnnConfig()
    assert (c.start, c.prune, c.sparsity) == ("seed", "none", 0.0)
    old = {k: v for k, v in asdict(c).items() if k not in ("start", "prune", "sparsity")}
    assert config_from_dict("cnn", old) == c
    assert type(CnnTask(c).make_model(0)) is models.SeedCNN


@pytest.mark.parametrize("bad", [{"prune": "random"}, {"start": "elsewhere"}])
def test_unknown_start_or_method_is_refused(bad):
    with pytest.raises(ValueError):
        CnnConfig(**bad)


def test_sparsity_outside_its_range_is_refused():
    with pytest.raises(LimitError):
        CnnConfig(start="shipped", prune="layer", sparsity=0.99)


@pytest.mark.parametrize("method,optim", [("layer", TrainConfig("adam", 1e-2, "constant", weight_decay=1e-3)),
                                          ("channels", TrainConfig("momentum", 0.05, "constant"))])
def test_every_step_leaves_the_pruned_weights_exactly_zero(method, optim):
    task = CnnTask(small(method, 0.6))
    task.prepare(CPU)
    model = task.make_model(0)
    shipped = models.load_default()
    pruning = prune_masks(shipped, method, 0.6)
    for lm in pruning.layers:  # the run starts from the shipped weights, pruned
        assert torch.equal(getattr(model, lm.name).weight.detach().contiguous(),
                           getattr(shipped, lm.name).weight * lm.mask.M)
    start = model.fc1.weight.detach().clone()
    steps = run_steps(model, make_optimizer(model.parameters(), optim), task.batches(0), task.step)
    for _ in range(3):
        next(steps)
        assert pruned_are_zero(model)  # after the optimiser step, before anything else
    assert not torch.equal(start, model.fc1.weight)


def test_a_trainer_run_keeps_the_masks_and_its_checkpoint_restores():
    tr = Trainer(CnnTask(small("global", 0.8)), TrainConfig("adam", 1e-3, "constant"),
                 RunConfig(seed=0, budget_s=60, report_every=1, eval_every=100), device=CPU)
    tr.start()
    assert tr.join(timeout=60) and tr.state == "finished", tr.error
    assert tr.step == 4 and tr.with_model(pruned_are_zero)
    evals = tr.metrics.snapshot().evals
    assert len(evals) == 1 and 0.0 <= evals[-1].held_out_accuracy <= 1.0
    again = restore(tr.to_bytes(), device=CPU)
    assert isinstance(again.model, MaskedCNN) and again.task.config == tr.task.config
    for name, value in tr.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[name])


def test_accuracy_curve_of_the_shipped_model_on_a_few_held_out_digits():
    data = held_out()
    assert tuple(data.x.shape) == (1000, 1, 28, 28) and data.y.shape == (1000,)
    few = HeldOut(data.x[:200], data.y[:200])
    shipped = models.load_default()
    curve = accuracy_curve(shipped, few, "channels", (0.0, 0.95))
    assert curve.accuracy[0] == accuracy(shipped, few) > 0.95  # s = 0 is the shipped model
    assert curve.accuracy[1] < 0.5  # 95 % of the channels gone: it no longer reads digits
    assert curve.nonzero[0] > curve.nonzero[1]
    assert curve.at(0.9) == curve.accuracy[1]
