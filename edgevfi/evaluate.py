"""Evaluation on Vimeo-layout triplet folders through the tiled Runner (what users deploy)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from edgevfi.data.triplets import TripletFolder
from edgevfi.metrics import psnr, quantize_8bit, ssim
from edgevfi.runtime import Runner


def evaluate(runner: Runner, root: str | Path, model_name: str, limit: int | None = None) -> dict[str, Any]:
    """Score the middle frame of every triplet under ``root``.

    Returns the JSON other tools read: ``{"model", "mean_psnr", "mean_ssim", "n", "per_triplet":
    [{"path", "psnr", "ssim"}]}`` (+ ``seconds``). Output is rounded to 8 bit before scoring.
    """
    root = Path(root)
    rows = []
    start = time.perf_counter()
    for item in TripletFolder(root, limit):
        folder = Path(item["path"])
        pair = runner.prepare(item["img0"], item["img1"])
        pred = quantize_8bit(runner.synthesize(pair, 0.5)[0])
        gt = item["gt"]
        row = {
            "path": str(folder.relative_to(root)) if folder != root else folder.name,
            "psnr": round(psnr(pred, gt), 4),
            "ssim": round(ssim(pred, gt), 5),
        }
        if pair.route is not None:  # routed runs: how much went to the accurate model, and why
            row["accurate_share"] = round(pair.route.fraction, 4)
            row["predicted_gain_db"] = round(pair.scores.gain_db, 4) if pair.scores else None
        rows.append(row)
    n = len(rows)
    result = {
        "model": model_name,
        "mean_psnr": round(sum(r["psnr"] for r in rows) / n, 4),
        "mean_ssim": round(sum(r["ssim"] for r in rows) / n, 5),
        "n": n,
        "seconds": round(time.perf_counter() - start, 2),
        "per_triplet": rows,
    }
    if rows and "accurate_share" in rows[0]:
        result["accurate_share"] = round(sum(r["accurate_share"] for r in rows) / n, 4)
    return result


def markdown_report(result: dict[str, Any], worst: int = 5) -> str:
    """A short human table: the mean and the worst triplets."""
    lines = [
        f"# Evaluation: {result['model']}",
        "",
        f"{result['n']} triplets: mean PSNR **{result['mean_psnr']:.2f} dB**, mean SSIM {result['mean_ssim']:.4f}",
        "",
        "| worst triplets | PSNR (dB) | SSIM |",
        "| --- | ---: | ---: |",
    ]
    for r in sorted(result["per_triplet"], key=lambda r: r["psnr"])[:worst]:
        lines.append(f"| {r['path']} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    return "\n".join(lines) + "\n"


@torch.no_grad()
def quick_psnr(model: torch.nn.Module, root: str | Path, limit: int | None = None) -> float:
    """Mean PSNR with the eager Runner (used for validation during training)."""
    from edgevfi.runtime import EagerBackend

    was_training = model.training
    res = evaluate(Runner(EagerBackend(model, device=next(model.parameters()).device)), root, "val", limit)
    model.train(was_training)
    return res["mean_psnr"]
