"""A small character-level LSTM language model: one-hot characters in, next-character logits out.

    x_t = one_hot(char_t)                      (V,)   exactly the one-hot vector the pages show
    h_t, c_t = LSTM(x_t, h_{t−1}, c_{t−1})     (H,)   torch's nn.LSTM, gates stacked i, f, g, o
    y_t = W_hy h_t + b_y                       (V,)   logits for char_{t+1}

The LSTM weights come out in torch's layout (lstm_weights) so a page can run the from-scratch
engine.ops.recurrent.lstm on them and draw every gate. The shipped checkpoint (assets/char_lstm.pt)
is trained by scripts/train_char_lstm.py on Shakespeare (engine.data.corpus).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data.corpus import VOCAB, CorpusError, encode, shakespeare

CHECKPOINT = Path(__file__).resolve().parents[2] / "assets" / "char_lstm.pt"
TEMPERATURE_MIN, TEMPERATURE_MAX = 0.05, 5.0
MAX_SAMPLE_CHARS = 2000


@dataclass(frozen=True)
class CharLSTMConfig:
    """One LSTM layer on one-hot input: D = V (vocabulary size), H hidden units."""

    vocab: str = VOCAB
    H: int = 128

    @property
    def V(self) -> int:
        return len(self.vocab)


class CharLSTM(nn.Module):
    """ids (T, B) → logits (T, B, V); one-hot input, nn.LSTM (batch_first=False), linear head."""

    def __init__(self, config: CharLSTMConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(input_size=config.V, hidden_size=config.H, num_layers=1)
        self.head = nn.Linear(config.H, config.V)

    def forward(self, ids: torch.Tensor, state=None):
        """ids (T, B) int64 → (logits (T, B, V), (h_T, c_T) each (1, B, H))."""
        x = F.one_hot(ids, self.config.V).to(self.head.weight.dtype)  # (T, B, V)
        h, state = self.lstm(x, state)  # h: (T, B, H)
        # y_t = W_hy h_t + b_y
        return self.head(h), state


def one_hot(text: str, vocab: str = VOCAB) -> torch.Tensor:
    """Text → x (T, 1, V) float32: the LSTM's inputs x_t, batch of one."""
    return F.one_hot(encode(text, vocab), len(vocab)).float().unsqueeze(1)  # (T, 1, V)


def lstm_weights(model: CharLSTM) -> dict[str, torch.Tensor]:
    """The LSTM's weights in torch's layout, detached: weight_ih (4H, V), weight_hh (4H, H),
    bias_ih (4H,), bias_hh (4H,), rows stacked i, f, g, o — the arguments of engine.ops.recurrent.lstm."""
    lstm = model.lstm
    return {"weight_ih": lstm.weight_ih_l0.detach(), "weight_hh": lstm.weight_hh_l0.detach(),
            "bias_ih": lstm.bias_ih_l0.detach(), "bias_hh": lstm.bias_hh_l0.detach()}


def head_weights(model: CharLSTM) -> dict[str, torch.Tensor]:
    """The output layer, detached: W_hy (V, H) and b_y (V,)."""
    return {"W_hy": model.head.weight.detach(), "b_y": model.head.bias.detach()}


def _ids(model: CharLSTM, text: str) -> torch.Tensor:
    if not text:
        raise CorpusError("empty_text", "Type at least one character.")
    return encode(text, model.config.vocab).unsqueeze(1)  # (T, 1)


@torch.no_grad()
def next_char_probs(model: CharLSTM, text: str) -> torch.Tensor:
    """P(char_{t+1} | char_1..t) for every prefix of `text`: (T, V), each row sums to 1."""
    logits, _ = model(_ids(model, text))
    return torch.softmax(logits[:, 0, :].double(), dim=-1)


def check_temperature(temperature: float) -> float:
    if not TEMPERATURE_MIN <= float(temperature) <= TEMPERATURE_MAX:
        raise CorpusError("temperature", f"temperature must be between {TEMPERATURE_MIN} and {TEMPERATURE_MAX} "
                          f"(got {temperature}).", value=temperature, low=TEMPERATURE_MIN, high=TEMPERATURE_MAX)
    return float(temperature)


@torch.no_grad()
def sample(model: CharLSTM, prompt: str, n: int, temperature: float = 1.0, seed: int = 0) -> str:
    """n characters drawn after `prompt` (empty prompt: start after a newline), from
    p_k ∝ exp(y_k / temperature), with a seeded generator; returns only the new characters."""
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


def save_char_lstm(model: CharLSTM, path: Path, meta: dict) -> None:
    """Plain types only (tensors, str, int, float), so torch.load(weights_only=True) reads it."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "config": asdict(model.config), "meta": dict(meta)}, path)


def load_char_lstm(path: Path = CHECKPOINT) -> tuple[CharLSTM, CharLSTMConfig, dict]:
    """(model in eval mode, its config, the training meta) from a checkpoint, weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError("no_checkpoint", f"No checkpoint at {path}; run scripts/train_char_lstm.py.",
                          file=str(path))
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        config = CharLSTMConfig(vocab=str(blob["config"]["vocab"]), H=int(blob["config"]["H"]))
        model = CharLSTM(config)
        model.load_state_dict(blob["state_dict"])
    except Exception as exc:  # a corrupt or foreign file: say so instead of a traceback
        raise CorpusError("bad_checkpoint", f"{path.name} is not a char-LSTM checkpoint: {exc}",
                          file=path.name) from exc
    return model.eval(), config, dict(blob.get("meta", {}))


# ---------------------------------------------------------------- training (scripts/train_char_lstm.py)


@dataclass(frozen=True)
class TrainConfig:
    """Truncated BPTT over B parallel streams of the text, T characters per step, Adam."""

    seed: int = 0
    steps: int = 4000
    H: int = 128
    B: int = 64
    T: int = 100
    lr: float = 4e-3
    lr_final: float = 4e-4
    clip: float = 1.0


def streams(ids: torch.Tensor, B: int) -> torch.Tensor:
    """ids (N·B + r,) → (N, B): column b is the b-th contiguous stretch of the text."""
    N = ids.numel() // B
    return ids[: N * B].reshape(B, N).t()  # (N, B)


HELD_OUT = 0.05  # the last 5% of the corpus is validation text, never trained on


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


def train_char_lstm(cfg: TrainConfig, train_ids: torch.Tensor, vocab: str = VOCAB, on_step=None) -> CharLSTM:
    """Seeded: the weights come from cfg.seed and the data order is fixed, so a run repeats bit for bit."""
    torch.manual_seed(cfg.seed)
    model = CharLSTM(CharLSTMConfig(vocab=vocab, H=cfg.H))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # lr_s = lr · (lr_final / lr)^(s / steps): geometric decay
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (cfg.lr_final / cfg.lr) ** (s / cfg.steps))
    data = streams(train_ids, cfg.B)  # (N, B)
    pos, state = 0, None
    for step in range(1, cfg.steps + 1):
        if pos + cfg.T + 1 > data.shape[0]:
            pos, state = 0, None
        x, target = data[pos: pos + cfg.T], data[pos + 1: pos + cfg.T + 1]  # (T, B) each
        pos += cfg.T
        logits, state = model(x, state)
        # truncated BPTT: keep the state's values, cut the graph
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, model.config.V), target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        decay.step()
        if on_step is not None:
            on_step(step, loss.item(), model)
    return model.eval()


@torch.no_grad()
def evaluate(model: CharLSTM, ids: torch.Tensor, B: int = 16, T: int = 200) -> float:
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
