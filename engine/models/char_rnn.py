"""The character-level language model: one-hot characters in, next-character logits out, with a
selectable cell (LSTM, GRU or a plain Elman RNN).

    x_t = one_hot(char_t)             (V,)   the one-hot vector the pages show
    h_t = cell(x_t, h_{t−1}[, c_t])   (H,)   torch's nn.LSTM / nn.GRU / nn.RNN (tanh)
    y_t = W_hy h_t + b_y              (V,)   logits for char_{t+1}

The cell's weights come out in torch's layout (cell_weights) so a page can run the from-scratch
engine.ops.recurrent cell on them and draw every gate; gate_trace does exactly that. The shipped
checkpoint (assets/char_lstm.pt, an LSTM trained by scripts/train_char_lstm.py on Shakespeare,
engine.data.corpus) loads into CharRNN with load_checkpoint / load_default. It was written when
the recurrent module was called `lstm`; its keys `lstm.*` are read as `rnn.*`, nothing else changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data.corpus import VOCAB, CorpusError, encode, one_hot, shakespeare
from engine.limits import check
from engine.ops import recurrent

CHECKPOINT = Path(__file__).resolve().parents[2] / "assets" / "char_lstm.pt"
TEMPERATURE_MIN, TEMPERATURE_MAX = 0.05, 5.0
MAX_SAMPLE_CHARS = 2000
HELD_OUT = 0.05  # the last 5% of the corpus is validation text, never trained on

CELLS = ("lstm", "gru", "rnn")
_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# what gate_trace returns for each cell, in the order the pages draw them
GATE_NAMES = {"lstm": ("i", "f", "g", "o", "c", "h"), "gru": ("r", "z", "n", "h"), "rnn": ("h",)}
_OLD_PREFIX = "lstm."  # the shipped checkpoint's name for the recurrent module


@dataclass(frozen=True)
class CharRNNConfig:
    """One recurrent layer of H units on one-hot input of size V = len(vocab)."""

    cell: str = "lstm"
    H: int = 128
    vocab: str = VOCAB

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        check("hidden_size", self.H)
        check("input_size", len(self.vocab))

    @property
    def V(self) -> int:
        return len(self.vocab)


def param_count(config: CharRNNConfig) -> int:
    """Learnable numbers: the cell's G·(H·V + H·H + 2H) plus the output layer's V·H + V."""
    # P = G·(H·V + H·H + 2H) + V·H + V
    return recurrent.param_count(config.cell, config.V, config.H) + config.V * config.H + config.V


class CharRNN(nn.Module):
    """ids (T, B) → (logits (T, B, V), state); batch_first=False like engine.ops.recurrent."""

    def __init__(self, config: CharRNNConfig):
        super().__init__()
        self.config = config
        self.rnn = _MODULES[config.cell](input_size=config.V, hidden_size=config.H, num_layers=1)
        self.head = nn.Linear(config.H, config.V)

    def forward(self, ids: torch.Tensor, state=None):
        """ids (T, B) int64 → (logits (T, B, V), state: h_T (1, B, H), or (h_T, c_T) for the LSTM)."""
        x = F.one_hot(ids, self.config.V).to(self.head.weight.dtype)  # (T, B, V)
        h, state = self.rnn(x, state)  # h: (T, B, H)
        # y_t = W_hy h_t + b_y
        return self.head(h), state


def text_inputs(text: str, vocab: str = VOCAB) -> torch.Tensor:
    """Text → x (T, 1, V) float32: the cell's inputs x_t (one-hot rows), batch of one."""
    return one_hot(encode(text, vocab), len(vocab), torch.float32)


def cell_weights(model: CharRNN) -> dict[str, torch.Tensor]:
    """weight_ih (G·H, V), weight_hh (G·H, H), bias_ih, bias_hh (G·H,), detached, in torch's
    gate order (i, f, g, o / r, z, n): the arguments of engine.ops.recurrent.lstm / gru / rnn."""
    rnn = model.rnn
    return {"weight_ih": rnn.weight_ih_l0.detach(), "weight_hh": rnn.weight_hh_l0.detach(),
            "bias_ih": rnn.bias_ih_l0.detach(), "bias_hh": rnn.bias_hh_l0.detach()}


def head_weights(model: CharRNN) -> dict[str, torch.Tensor]:
    """The output layer, detached: W_hy (V, H) and b_y (V,)."""
    return {"W_hy": model.head.weight.detach(), "b_y": model.head.bias.detach()}


@torch.no_grad()
def gate_trace(model: CharRNN, text: str) -> dict[str, torch.Tensor]:
    """Every gate and state of the cell on `text`, each (T, H), computed by engine.ops.recurrent
    from the model's weights (on the CPU, in the model's dtype): i, f, g, o, c, h for the LSTM;
    r, z, n, h for the GRU; h for the RNN."""
    if not text:
        raise ValueError("the probe text is empty")
    weights = {k: v.to("cpu") for k, v in cell_weights(model).items()}
    dtype = weights["weight_ih"].dtype
    # ids (T,) → one-hot x (T, 1, V)
    x = one_hot(encode(text, model.config.vocab), model.config.V, dtype)
    trace = getattr(recurrent, model.config.cell)(x, **weights)
    # (T, 1, H) → (T, H)
    return {name: getattr(trace, name)[:, 0] for name in GATE_NAMES[model.config.cell]}


# ---------------------------------------------------------------- reading the model


def _ids(model: CharRNN, text: str) -> torch.Tensor:
    if not text:
        raise CorpusError("empty_text", "Type at least one character.")
    return encode(text, model.config.vocab).unsqueeze(1)  # (T, 1)


@torch.no_grad()
def next_char_probs(model: CharRNN, text: str) -> torch.Tensor:
    """P(char_{t+1} | char_1..t) for every prefix of `text`: (T, V), each row sums to 1."""
    logits, _ = model(_ids(model, text))
    return torch.softmax(logits[:, 0, :].double(), dim=-1)


def check_temperature(temperature: float) -> float:
    if not TEMPERATURE_MIN <= float(temperature) <= TEMPERATURE_MAX:
        raise CorpusError("temperature", f"temperature must be between {TEMPERATURE_MIN} and {TEMPERATURE_MAX} "
                          f"(got {temperature}).", value=temperature, low=TEMPERATURE_MIN, high=TEMPERATURE_MAX)
    return float(temperature)


@torch.no_grad()
def sample(model: CharRNN, prompt: str, n: int, temperature: float = 1.0, seed: int = 0) -> str:
    """n characters drawn after `prompt` (empty prompt: start after a newline), from
    p_k ∝ exp(y_k / temperature), with a seeded generator; returns only the new characters.
    The model must be on the CPU."""
    check_temperature(temperature)
    if not 1 <= int(n) <= MAX_SAMPLE_CHARS:
        raise CorpusError("sample_length", f"n must be between 1 and {MAX_SAMPLE_CHARS} (got {n}).",
                          value=n, low=1, high=MAX_SAMPLE_CHARS)
    generator = torch.Generator().manual_seed(int(seed))
    vocab = model.config.vocab
    logits, state = model(_ids(model, prompt or "\n"))
    y = logits[-1, 0]
    out = []
    for _ in range(int(n)):
        # p_k = exp(y_k / τ) / Σ_j exp(y_j / τ)
        p = torch.softmax(y.double() / temperature, dim=-1)
        k = int(torch.multinomial(p, 1, generator=generator))
        out.append(vocab[k])
        logits, state = model(torch.tensor([[k]]), state)
        y = logits[-1, 0]
    return "".join(out)


# ---------------------------------------------------------------- the corpus split


def streams(ids: torch.Tensor, B: int) -> torch.Tensor:
    """ids (N·B + r,) → (N, B): column b is the b-th contiguous stretch of the text."""
    N = ids.numel() // B
    return ids[: N * B].reshape(B, N).t()  # (N, B)


def split_ids(ids: torch.Tensor, held_out: float = HELD_OUT) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation): the last `held_out` fraction of the text is held out."""
    n_val = int(ids.numel() * held_out)
    return ids[:-n_val], ids[-n_val:]


def held_out_text(n_chars: int) -> str:
    """n_chars of the validation text (see split_ids; one id per character, so the split falls
    at the same place in the text), starting at the first speech that begins inside it."""
    if not 1 <= int(n_chars) <= MAX_SAMPLE_CHARS:
        raise CorpusError("passage_length", f"n_chars must be between 1 and {MAX_SAMPLE_CHARS}.",
                          value=n_chars, low=1, high=MAX_SAMPLE_CHARS)
    text = shakespeare()
    validation = text[len(text) - int(len(text) * HELD_OUT):]
    start = validation.find("\n\n") + 2
    return validation[start:start + int(n_chars)]


@torch.no_grad()
def evaluate(model: CharRNN, ids: torch.Tensor, B: int = 16, T: int = 200) -> float:
    """Mean cross-entropy in nats per character over `ids`, state carried across chunks."""
    data = streams(ids, B)  # (N, B)
    total, count, state = 0.0, 0, None
    for pos in range(0, data.shape[0] - 1, T):
        x, target = data[pos: pos + T], data[pos + 1: pos + T + 1]
        x = x[: target.shape[0]]
        logits, state = model(x, state)
        total += float(F.cross_entropy(logits.reshape(-1, model.config.V), target.reshape(-1), reduction="sum"))
        count += target.numel()
    return total / count


# ---------------------------------------------------------------- the checkpoint


def save_checkpoint(model: CharRNN, path: Path, meta: dict) -> None:
    """Plain types only (tensors, str, int, float), so torch.load(weights_only=True) reads it."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "config": asdict(model.config), "meta": dict(meta)}, path)


def _current_keys(state: dict) -> dict:
    """The shipped checkpoint's `lstm.*` keys as CharRNN's `rnn.*` (other keys unchanged)."""
    return {("rnn." + k[len(_OLD_PREFIX):] if k.startswith(_OLD_PREFIX) else k): v for k, v in state.items()}


def load_checkpoint(path: Path = CHECKPOINT) -> tuple[CharRNN, dict]:
    """(model in eval mode, the training meta) from a checkpoint, read with weights_only=True;
    the model's config is model.config. A checkpoint without a cell is an LSTM."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError("no_checkpoint", f"No checkpoint at {path}; run scripts/train_char_lstm.py.",
                          file=str(path))
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        saved = blob["config"]
        config = CharRNNConfig(cell=str(saved.get("cell", "lstm")), H=int(saved["H"]), vocab=str(saved["vocab"]))
        model = CharRNN(config)
        model.load_state_dict(_current_keys(blob["state_dict"]))
    except Exception as exc:  # a corrupt or foreign file: say so instead of a traceback
        raise CorpusError("bad_checkpoint", f"{path.name} is not a char-RNN checkpoint: {exc}",
                          file=path.name) from exc
    return model.eval(), dict(blob.get("meta", {}))


def load_default() -> CharRNN:
    """The shipped LSTM (assets/char_lstm.pt) in eval mode."""
    return load_checkpoint(CHECKPOINT)[0]
