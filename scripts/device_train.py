"""Train within a fixed wall-clock budget (a lent GPU's minutes), ending on a full cosine.

A lease is counted in minutes, not steps, and the step rate of a machine is unknown until it runs. So
this runs the config's warm-up steps (whose learning rate does not depend on the run's length), measures
the rate, sets ``steps`` to what fits before ``--seconds`` are up, and trains the rest of the cosine in
chunks, writing the weights to ``--snapshot`` (atomically) after each chunk so a cut-off call still
returns them; the end of the cosine is written last. Everything else is ``edgevfi train``: same config,
same loop, same checkpoints.

    python scripts/device_train.py configs/apr-s-gpu.yaml --seconds 420 --snapshot $OUT/apr-s-gpu.safetensors
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch
import yaml

from edgevfi.checkpoint import save_checkpoint
from edgevfi.train.loop import TrainConfig, Trainer


def main() -> int:
    t_start = time.monotonic()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--seconds", type=float, required=True, help="wall-clock budget from this script's start")
    ap.add_argument("--snapshot", required=True, help="safetensors path rewritten after every chunk")
    ap.add_argument("--chunk-seconds", type=float, default=60.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=YAML", help="override a config setting")
    args = ap.parse_args()
    settings = yaml.safe_load(Path(args.config).read_text()) or {}
    for kv in args.set:
        k, _, v = kv.partition("=")
        settings[k] = yaml.safe_load(v)
    cfg = TrainConfig.from_dict(settings)
    if cfg.warmup < 20:
        sys.exit("error: the rate is measured during warm-up; the config needs warmup >= 20")
    if cfg.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # two fixed input shapes (full and half canvas)
    trainer = Trainer(cfg)
    snapshot = Path(args.snapshot)
    snapshot.parent.mkdir(parents=True, exist_ok=True)

    def sync() -> None:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()

    probe = cfg.warmup // 2
    trainer.train(steps=probe)  # kernels chosen, loader threads running
    sync()
    t0 = time.monotonic()
    trainer.train(steps=cfg.warmup - probe)
    sync()
    rate = (cfg.warmup - probe) / (time.monotonic() - t0)
    left = args.seconds - (time.monotonic() - t_start)
    total = trainer.step + int(0.93 * rate * left)  # a margin for the chunks' snapshots and the last save
    if total <= trainer.step:
        sys.exit(f"error: no time left for training after the warm-up ({left:.0f} s, {rate:.2f} it/s)")
    # The warm-up's learning rates did not depend on cfg.steps, so setting it now gives the same run
    # as a config that had said `steps: total` from the start.
    trainer.cfg.steps = total
    trainer.record_setting_changes()  # config.json says the real length; the change and its step are logged
    trainer.log(f"measured {rate:.2f} it/s; {left:.0f} s left: cosine to step {total}")
    chunk = max(1, int(rate * args.chunk_seconds))
    while trainer.step < total:
        trainer.train(steps=chunk)
        save_checkpoint(trainer.model, snapshot, extra={"step": trainer.step})  # atomic
        trainer.log(f"snapshot at step {trainer.step} ({time.monotonic() - t_start:.0f} s)")
    shutil.copyfile(trainer.out / "final.safetensors", snapshot.with_name(".final.tmp"))
    snapshot.with_name(".final.tmp").replace(snapshot)
    summary = {
        "steps": total,
        "rate_it_s": round(rate, 3),
        "seconds": round(time.monotonic() - t_start, 1),
        "device": torch.cuda.get_device_name(0) if trainer.device.type == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    (snapshot.parent / "train_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
