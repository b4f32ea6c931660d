"""engine.device: CUDA, then MPS, then CPU; NML_DEVICE overrides."""

from __future__ import annotations

import pytest
import torch

from engine import device as dev


@pytest.fixture(autouse=True)
def fresh_cache():
    dev.get_device.cache_clear()
    yield
    dev.get_device.cache_clear()


@pytest.mark.parametrize("value", ["cpu", "CPU", " cpu "])
def test_nml_device_cpu(monkeypatch, value):
    monkeypatch.setenv("NML_DEVICE", value)
    assert dev.get_device() == torch.device("cpu")
    assert dev.device_name() == "CPU"


def test_cuda_requested_without_cuda_falls_back(monkeypatch):
    monkeypatch.setenv("NML_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.get_device() == torch.device("cpu")


def test_mps_requested_without_mps_falls_back(monkeypatch):
    monkeypatch.setenv("NML_DEVICE", "mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert dev.get_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["", "tpu", "gpu0"])
def test_unknown_value_means_automatic(monkeypatch, value):
    monkeypatch.setenv("NML_DEVICE", value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert dev.get_device() == torch.device("cpu")


def test_automatic_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.delenv("NML_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.get_device().type == "cuda"
    dev.get_device.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert dev.get_device().type == "mps"


def test_cpu_override_beats_an_available_gpu(monkeypatch):
    monkeypatch.setenv("NML_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.get_device() == torch.device("cpu")


def test_get_device_is_cached(monkeypatch):
    monkeypatch.setenv("NML_DEVICE", "cpu")
    assert dev.get_device() is dev.get_device()


def test_device_name_labels():
    assert dev.device_name(torch.device("cpu")) == "CPU"
    assert dev.device_name(torch.device("mps")) == "Apple MPS"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_name_here_is_cpu(monkeypatch):
    monkeypatch.delenv("NML_DEVICE", raising=False)
    assert dev.get_device().type in {"cpu", "mps"}
    if dev.get_device().type == "cpu":
        assert dev.device_name() == "CPU"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device_name(monkeypatch):
    monkeypatch.delenv("NML_DEVICE", raising=False)
    assert dev.get_device().type == "cuda"
    assert dev.device_name() == torch.cuda.get_device_name(0)


def test_configure_threads_is_idempotent(monkeypatch):
    calls = []
    monkeypatch.setattr(dev, "_configured", False)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    dev.configure_threads()
    dev.configure_threads()
    assert len(calls) == 1 and calls[0] >= 1
