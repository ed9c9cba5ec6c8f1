"""Train the difficulty pre-assessor on labels from ``scripts/dpa_labels.py``.

    python scripts/train_dpa.py --labels cache/dpa/labels.npz --align warp --out edgevfi/weights/dpa-s.safetensors

Every 5th training clip (by name) is held out whole: the log reports the held-out loss and the rank
correlations (predicted vs true pair gain, per-patch benefit). The saved file carries the config,
the calibration (quantiles of the predicted pair gain on the training pairs, which turn a per-pair
budget into a threshold) and a model card (``<out>.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgevfi.checkpoint import save_assessor
from edgevfi.models.dpa import DifficultyAssessor, DPAConfig, assess_canvas, pair_gain_db
from edgevfi.train.dpa import DPATrainConfig, LabelSet, assessor_inputs, evaluate_assessor, train_assessor

QUANTILES = [round(0.05 * k, 2) for k in range(1, 20)]


@torch.no_grad()
def calibration(model: DifficultyAssessor, labels: LabelSet) -> dict[str, float]:
    gains = []
    for s in range(0, len(labels), 32):
        b = labels.batch(np.arange(s, min(len(labels), s + 32)))
        d, ben, _ = model(*assessor_inputs(b["img0"], b["img1"]))
        gains.append(pair_gain_db(d, ben))
    g = torch.cat(gains).numpy()
    return {f"{q:.2f}": float(np.quantile(g, q)) for q in QUANTILES}


def macs_720p(model: DifficultyAssessor) -> int:
    canvas = assess_canvas((288, 512), model.config.canvas_scale)
    x = torch.rand(1, 3, *canvas)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x, x)
    return int(fc.get_total_flops() // 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--labels", nargs="+", default=["cache/dpa/labels.npz"])
    p.add_argument("--align", default="warp", choices=["warp", "deform", "none"])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    labels = LabelSet(a.labels)
    train, held = labels.split_by_clip()
    print(f"{len(train)} training pairs, {len(held)} held-out pairs ({len(set(held.clips.tolist()))} clips)")
    model = DifficultyAssessor(DPAConfig(width=a.width, align=a.align))
    cfg = DPATrainConfig(steps=a.steps, batch=a.batch, lr=a.lr, seed=a.seed, log_every=max(1, a.steps // 10))
    t0 = time.perf_counter()
    result = train_assessor(model, train, cfg, held, on_log=lambda s, row: print(json.dumps(row), flush=True))
    held_metrics = evaluate_assessor(model, held)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    card = {
        "name": out.stem,
        "family": "dpa",
        "config": model.config.to_dict(),
        "params": sum(p.numel() for p in model.parameters()),
        "macs_720p": macs_720p(model),
        "fast": "apr-s",
        "accurate": "svmv-s",
        "labels": [str(x) for x in a.labels],
        "training_pairs": len(train),
        "held_out": {"pairs": len(held), "clips": sorted(set(held.clips.tolist())), **held_metrics},
        "train": {**result["config"], "seconds": round(time.perf_counter() - t0, 1)},
        "curve": result["curve"],
        "calibration": calibration(model, train),
    }
    save_assessor(model, out, extra={"calibration": card["calibration"], "fast": "apr-s", "accurate": "svmv-s"})
    card["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({"held_out": card["held_out"], "macs_720p": card["macs_720p"], "params": card["params"]}))


if __name__ == "__main__":
    main()
