"""Real models' speed (issue 12): cold loads with the process's memory after each, and the three
speed goals on the project's 2-core machines, each as the median of N runs against its goal.

- cold loads, in the order a fresh server meets them: MiniLM (transformers' tokenizer and
  BertModel, importing transformers the first time), MiniLM's weights into our engine (float32
  and float64) and the float64 copy of transformers' model the replay page keeps, SmolLM2's
  4-bit GGUF through our engine's load() (engine/models/smollm.py), SmolLM2's tokenizer, and
  with --reference transformers' LlamaForCausalLM from the GGUF (≈25 s, ≈0.6 GB);
- MiniLM's attention for a 32-token sentence (goal ≤ 0.3 s): our replay (every layer's
  attention weights) and transformers' forward with output_attentions; also the replay page's
  whole cache miss (ours and transformers', float32 and float64, with the comparison);
- SmolLM2's next-token distribution for a 64-token prompt (goal ≤ 1.5 s): our engine's forward
  and the softmax of the last row; transformers' with --reference;
- the logit lens on that prompt (goal ≤ 3 s): our forward and every layer's hidden state
  through the final norm and the output head (engine/models/smollm_lens.py), and the lens alone;
- the same runs on the accelerator when engine.device.get_device() finds one (CUDA or MPS).

    .venv/bin/python benchmarks/real_models.py                 # N = 5 runs each
    .venv/bin/python benchmarks/real_models.py --runs 9 --reference --json real.json

Threads: one per core (engine.device.configure_threads), or NML_THREADS. On a shared 2-core
machine run it with NML_THREADS=1: two OpenMP threads competing with other processes for two
cores can be several times slower than one.

A benchmark, not a test: it prints tables and exits 0. The machine's load (os.getloadavg(),
runnable processes averaged over 1, 5 and 15 minutes) is printed before and after each part:
on a 2-core machine a 1-minute load above 2 means other processes were competing for the cores,
and every time below is inflated by about load/2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import torch  # noqa: E402

from engine.device import configure_threads, device_name, get_device  # noqa: E402

GOALS_S = {"minilm_attention": 0.3, "smollm_next_token": 1.5, "logit_lens": 3.0}
MINILM_TOKENS = 32
PROMPT_TOKENS = 64
TEXT = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. "
        "Later, towers were built of stone, and a keeper climbed the stairs every evening to light "
        "the lamp, trim the wick and polish the great lens until it shone across the dark water. "
        "Sailors learned each light's pattern of flashes, so a glance told them where they were.")


@dataclass
class Timing:
    name: str
    times_s: list[float] = field(default_factory=list)
    goal_s: float | None = None
    device: str = "cpu"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times_s)

    def line(self) -> str:
        ratio = "" if self.goal_s is None else f"   {self.median / self.goal_s:5.2f}× the goal of {self.goal_s:.1f} s"
        spread = f"(min {min(self.times_s):.3f}, max {max(self.times_s):.3f}, n = {len(self.times_s)})"
        return f"  {self.name:<66} {self.median:8.3f} s {spread}{ratio}" + (f"   {self.note}" if self.note else "")


@dataclass
class Load:
    name: str
    seconds: float
    rss_mb: float
    delta_mb: float

    def line(self) -> str:
        return f"  {self.name:<66} {self.seconds:7.1f} s   RSS {self.rss_mb:7.0f} MB (+{self.delta_mb:.0f} MB)"


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def load_avg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def sync(device: torch.device) -> None:
    if device.type != "cpu":
        torch.accelerator.synchronize()


def timed(name: str, fn, runs: int, device: torch.device, goal: float | None = None, note: str = "") -> Timing:
    """fn() once to warm up, then `runs` timed calls (synchronised on an accelerator)."""
    fn()
    sync(device)
    result = Timing(name, goal_s=goal, device=device.type, note=note)
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync(device)
        result.times_s.append(time.perf_counter() - t0)
    return result


def cold(name: str, fn, loads: list[Load]):
    before = rss_mb()
    t0 = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - t0
    loads.append(Load(name, seconds, rss_mb(), rss_mb() - before))
    print(loads[-1].line(), flush=True)
    return value


def to_device(obj, device: torch.device):
    """Every tensor inside a (frozen) dataclass, tuple or list moved to device; the rest as is."""
    if torch.is_tensor(obj):
        return obj.to(device)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: to_device(getattr(obj, f.name), device)
                                           for f in dataclasses.fields(obj) if f.init})
    if isinstance(obj, tuple | list):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


# ----- the parts ----------------------------------------------------------------------------


@dataclass
class Models:
    minilm: object = None  # pretrained.Reference
    minilm32: object = None
    minilm64: object = None
    minilm_hf64: object = None
    smollm: object = None
    smollm_tok: object = None
    smollm_ref: object = None


def load_all(reference: bool, loads: list[Load]) -> Models:
    from engine.models import minilm, pretrained, smollm

    m = Models()
    m.minilm = cold("MiniLM: transformers' tokenizer + BertModel", pretrained.minilm_reference, loads)
    m.minilm32 = cold("MiniLM: weights into our engine (float32)", lambda: minilm.load(m.minilm), loads)
    # the replay page's float64 pair: transformers' float64 copy, and our weights sharing its tensors
    m.minilm_hf64 = cold("MiniLM: transformers' float64 copy (the replay page)",
                         lambda: minilm.reference_model(m.minilm.model, torch.float64), loads)
    m.minilm64 = cold("MiniLM: our float64 weights, sharing that copy's tensors",
                      lambda: minilm.from_model(m.minilm_hf64, torch.float64), loads)
    m.smollm = cold("SmolLM2: GGUF through our engine's load()", smollm.load, loads)
    m.smollm_tok = cold("SmolLM2: tokenizer from the GGUF", pretrained.smollm_tokenizer, loads)
    if reference:
        m.smollm_ref = cold("SmolLM2: transformers' LlamaForCausalLM (--reference)", pretrained.smollm_reference, loads)
    return m


def minilm_runs(m: Models, runs: int, device: torch.device) -> list[Timing]:
    from engine.models import minilm
    from engine.models.minilm_text import encode

    encoded = encode(m.minilm.tokenizer, TEXT, max_tokens=MINILM_TOKENS)
    assert encoded.T == MINILM_TOKENS, encoded.T
    goal = GOALS_S["minilm_attention"]
    on_cpu = device.type == "cpu"
    w32 = m.minilm32 if on_cpu else to_device(m.minilm32, device)
    enc = encoded if on_cpu else to_device(encoded, device)
    hf = m.minilm.model if on_cpu else m.minilm.model.to(device)
    out = [timed(f"MiniLM {MINILM_TOKENS} tokens: our replay, every attention weight", lambda: minilm.replay_encoded(w32, enc),
                 runs, device, goal),
           timed(f"MiniLM {MINILM_TOKENS} tokens: transformers, output_attentions",
                 lambda: minilm.reference_run(hf, enc), runs, device, goal)]
    if on_cpu:
        out.append(timed(f"MiniLM {MINILM_TOKENS} tokens: the replay page's miss (both, f32 + f64)",
                         lambda: minilm.replay_and_compare(m.minilm32, m.minilm64, m.minilm.model, m.minilm_hf64,
                                                           encoded), runs, device,
                         note="ours and transformers' in float32 and float64, compared"))
    else:
        m.minilm.model.to(torch.device("cpu"))  # transformers moves a model in place: put it back
    return out


def prompt_ids(m: Models) -> torch.Tensor:
    ids = m.smollm_tok(TEXT * 2)["input_ids"][:PROMPT_TOKENS]
    assert len(ids) == PROMPT_TOKENS, len(ids)
    return torch.tensor(ids)


def smollm_runs(m: Models, runs: int, device: torch.device) -> list[Timing]:
    from engine.models import smollm
    from engine.models.smollm_lens import logit_lens

    ids = prompt_ids(m)
    model = m.smollm if device.type == "cpu" else to_device(m.smollm, device)

    def next_token():
        # p = softmax(z_T): the distribution of the token after the prompt
        return torch.softmax(smollm.forward(model, ids).logits[-1], dim=-1)

    trace = smollm.forward(model, ids)
    out = [timed(f"SmolLM2 {PROMPT_TOKENS}-token prompt: next-token distribution, our engine", next_token, runs, device,
                 GOALS_S["smollm_next_token"]),
           timed(f"SmolLM2 {PROMPT_TOKENS}-token prompt: logit lens, forward + lens", lambda: logit_lens(model, smollm.forward(model, ids)),
                 runs, device, GOALS_S["logit_lens"]),
           timed(f"SmolLM2 {PROMPT_TOKENS}-token prompt: logit lens alone (forward cached)",
                 lambda: logit_lens(model, trace), runs, device)]
    if m.smollm_ref is not None:
        ref = m.smollm_ref.model if device.type == "cpu" else m.smollm_ref.model.to(device)
        ids_ref = ids[None].to(device)

        def reference():
            with torch.no_grad():
                return torch.softmax(ref(input_ids=ids_ref).logits[0, -1], dim=-1)

        out.append(timed(f"SmolLM2 {PROMPT_TOKENS}-token prompt: next-token distribution, transformers", reference,
                         runs, device, GOALS_S["smollm_next_token"]))
        if device.type != "cpu":
            m.smollm_ref.model.to(torch.device("cpu"))
    return out


# ----- report -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (default 5)")
    parser.add_argument("--reference", action="store_true",
                        help="also load transformers' SmolLM2 (≈25 s, ≈0.6 GB) and time its next-token distribution")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    configure_threads()
    accelerator = get_device()
    print(f"machine: {platform.node()} · {os.cpu_count()} CPUs · torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads · Python {platform.python_version()} · accelerator: "
          f"{device_name(accelerator) if accelerator.type != 'cpu' else 'none'}")
    print(load_avg())
    print("\ncold loads (one process, in this order; RSS = the process's resident memory after each):")
    loads: list[Load] = []
    models = load_all(args.reference, loads)
    print(load_avg())

    timings: list[Timing] = []
    devices = [torch.device("cpu")] + ([accelerator] if accelerator.type != "cpu" else [])
    for device in devices:
        label = "CPU" if device.type == "cpu" else device_name(device)
        print(f"\non {label}: median of {args.runs} runs after one warm-up")
        for part in (minilm_runs, smollm_runs):
            try:
                got = part(models, args.runs, device)
            except Exception as e:  # one broken part must not hide the others
                print(f"  {part.__name__} failed on {device.type}: {type(e).__name__}: {e}"[:300])
                continue
            for timing in got:
                print(timing.line(), flush=True)
            timings += got
        print(load_avg())

    print(f"\nprocess RSS at the end: {rss_mb():.0f} MB")
    if args.json:
        payload = {"machine": platform.node(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                   "load_avg_end": os.getloadavg(), "loads": [dataclasses.asdict(x) for x in loads],
                   "timings": [{**dataclasses.asdict(x), "median_s": x.median} for x in timings]}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
