"""The data-parallel page's run across several machines: one rank per machine, the same code.

On each of W machines that can reach each other (machine 0's address is HOST0), run

    .venv/bin/python scripts/data_parallel_class.py --rank R --world-size W --master HOST0:29500 --iface eth0

with R = 0 … W − 1 (start them within --timeout seconds of each other). Each rank is exactly the
page's rank (engine.lab.ddp_rank.rank_main): the same seeded SeedCNN, its shard of every batch of
B digits, the gradients' all-reduce written out, the same SGD step; only the rendezvous differs
(tcp://HOST0:29500 instead of tcp://127.0.0.1:<port>) and gloo uses --iface (the network interface
the machines share; `ip -brief address` lists them) instead of the loopback. Rank 0 prints every
step: the ranks' weights compared (identical: max |θ_r − θ_0| = 0), the gap to one process on
the combined batch, and each rank's time per phase. The port must be open between the machines.

On one machine, two terminals also work: --master 127.0.0.1:29500 --iface lo, ranks 0 and 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.lab.ddp import checked_config  # noqa: E402
from engine.lab.ddp_rank import rank_main  # noqa: E402


class Printer:
    """Stands where the page's queue stands: prints what the rank reports."""

    def __init__(self):
        self.failed = False

    def put(self, message) -> None:
        kind, *body = message
        if kind == "step":
            row = body[0]
            times = "  ".join(f"r{r}: {1e3 * tm.compute:.1f}/{1e3 * tm.wait:.1f}/{1e3 * tm.all_reduce:.1f}/"
                              f"{1e3 * tm.step:.2f}" for r, tm in enumerate(row.times))
            print(f"step {row.step:3d}  loss {row.loss:.4f}  ranks identical: {row.identical} "
                  f"(max |θ_r − θ_0| = {row.rank_gap:.0e})  gap to one process {row.single_gap:.1e}  "
                  f"ms compute/wait/all-reduce/step  {times}", flush=True)
        elif kind == "run":
            r = body[0]
            print(f"all-reduce of all {r.params:,} values: {len(r.tensors)} calls {1e3 * r.bucket.per_tensor_s:.2f} ms, "
                  f"one bucket {1e3 * r.bucket.one_bucket_s:.2f} ms", flush=True)
        elif kind == "done":
            print(f"rank {body[0].rank} done: {body[0].n} digits a step, weights sha256 {body[0].weights_sha256[:16]}")
        elif kind == "error":
            self.failed = True
            print(f"rank {body[0]} failed: {body[1]}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rank", type=int, required=True)
    ap.add_argument("--world-size", type=int, required=True)
    ap.add_argument("--master", required=True, help="HOST:PORT of rank 0's machine")
    ap.add_argument("--iface", default="lo", help="the network interface gloo uses (lo: this machine only)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64, help="the combined batch B, split over the ranks")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the other ranks")
    args = ap.parse_args()
    W = args.world_size
    if not 0 <= args.rank < W or not 2 <= W <= args.batch:
        ap.error("need 0 ≤ rank < world size, and 2 ≤ world size ≤ batch")
    cfg = checked_config(args.steps, args.batch, args.dtype, world_size=W, timeout_s=args.timeout)
    printer = Printer()
    rank_main(args.rank, cfg, f"tcp://{args.master}", args.iface, printer, os.getppid())
    return 1 if printer.failed else 0


if __name__ == "__main__":
    sys.exit(main())
