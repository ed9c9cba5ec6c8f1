"""Accuracy-drop validation of a (quantized) bundle against its FP32 model (``edgevfi validate``).

For each backend × dataset × sequence: PSNR/SSIM of the bundle and of the FP32 reference vs
ground truth, PSNR of the bundle vs the reference, the drop, and the pair's motion magnitude
(mean displacement in frame pixels, from the reference's motion stage) with its bucket. The
reference is eager FP32 PyTorch with the same warp variant, canvas, tile and overlap as the bundle's
backend, so the drop is what quantization (or FP16) cost and nothing else. A backend × dataset
passes when its mean-PSNR drop is within the budget; any failure makes the run fail (exit ≠ 0),
so firmware CI can gate on it.

Outputs in the report folder: ``report.json``, ``report.md``, ``drop_by_motion.png`` and, per
backend × dataset, the worst crops as PNGs (FP32 | bundle | amplified difference).
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from edgevfi.data.triplets import TripletFolder
from edgevfi.metrics import MOTION_BUCKETS as BUCKETS
from edgevfi.metrics import motion_bucket as bucket_of
from edgevfi.metrics import motion_magnitude, psnr, quantize_8bit, ssim
from edgevfi.models.base import TwoStageModel
from edgevfi.runtime import Runner
from export import backends as backend_modules
from export.bundle import Bundle, BundleBackend, BundleError, tool_versions
from export.parity import _eager_runner, source_model

CROP = 96
DIFF_GAIN = 8.0


@dataclass
class Triplet:
    """One triplet to validate on."""

    dataset: str
    path: str
    img0: Tensor
    img1: Tensor
    gt: Tensor


def video_triplets(path: Path, limit: int | None = None) -> list[tuple[str, Tensor, Tensor, Tensor]]:
    """Triplets (i, i+1, i+2) of a video, every other frame: the middle frame is the ground truth."""
    from quantize.calibration import decode_frames

    frames = decode_frames(path, 2 * limit + 1 if limit else None)
    if len(frames) < 3:
        raise ValueError(f"{path}: fewer than three frames")
    return [(f"frame{i:05d}", frames[i], frames[i + 2], frames[i + 1]) for i in range(0, len(frames) - 2, 2)]


def load_sequences(sources: list[str], limit: int | None = None) -> list[Triplet]:
    """Triplet folders (Vimeo layout) and/or video files; dataset name = the folder or file name."""
    out: list[Triplet] = []
    for src in sources:
        path = Path(src)
        if not path.exists():
            raise ValueError(f"{src}: no such dataset (a triplet folder or a video file)")
        name = path.name or str(path)
        if path.is_file():
            for seq, a, b, g in video_triplets(path, limit):
                out.append(Triplet(name, seq, a, b, g))
            continue
        for item in TripletFolder(path, limit):
            rel = Path(item["path"]).relative_to(path) if Path(item["path"]) != path else Path(".")
            out.append(Triplet(name, str(rel), item["img0"], item["img1"], item["gt"]))
    return out


def worst_crop(ref: Tensor, out: Tensor, size: int = CROP) -> tuple[int, int, int, int]:
    """(y, x, h, w) of the ``size``² window where the bundle differs most from the reference."""
    err = (out - ref).abs().mean(0, keepdim=True)[None]
    H, W = err.shape[-2:]
    k = min(size, H, W)
    pooled = F.avg_pool2d(err, k, stride=max(1, k // 4))
    idx = int(pooled.flatten().argmax())
    pw = pooled.shape[-1]
    y, x = (idx // pw) * max(1, k // 4), (idx % pw) * max(1, k // 4)
    return min(y, H - k), min(x, W - k), k, k


def save_crop_strip(path: Path, ref: Tensor, out: Tensor, box: tuple[int, int, int, int]) -> None:
    """PNG: reference | bundle | |difference| × :data:`DIFF_GAIN`, each ``box`` scaled ×2."""
    y, x, h, w = box
    a, b = ref[:, y : y + h, x : x + w], out[:, y : y + h, x : x + w]
    diff = ((b - a).abs() * DIFF_GAIN).clamp(0, 1)
    gap = torch.ones(3, h, 2)
    strip = torch.cat([a, gap, b, gap, diff], 2)
    strip = F.interpolate(strip[None], scale_factor=2, mode="nearest")[0]
    arr = (strip.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(arr).save(tmp)
    tmp.replace(path)


def _summary(rows: list[dict[str, Any]], max_drop: float) -> dict[str, Any]:
    n = len(rows)
    fp32 = sum(r["psnr_fp32"] for r in rows) / n
    q = sum(r["psnr_bundle"] for r in rows) / n
    out = {
        "n": n,
        "psnr_fp32": round(fp32, 4),
        "psnr_bundle": round(q, 4),
        "drop": round(fp32 - q, 4),
        "ssim_fp32": round(sum(r["ssim_fp32"] for r in rows) / n, 5),
        "ssim_bundle": round(sum(r["ssim_bundle"] for r in rows) / n, 5),
        "min_psnr_vs_fp32": round(min(r["psnr_vs_fp32"] for r in rows), 3),
        "max_drop_sequence": round(max(r["drop"] for r in rows), 4),
        "buckets": {},
    }
    for name, lo, hi in BUCKETS:
        sel = [r for r in rows if r["bucket"] == name]
        if sel:
            out["buckets"][name] = {
                "range_px": [lo, None if math.isinf(hi) else hi],
                "n": len(sel),
                "drop": round(sum(r["drop"] for r in sel) / len(sel), 4),
                "psnr_fp32": round(sum(r["psnr_fp32"] for r in sel) / len(sel), 4),
            }
    out["pass"] = out["drop"] <= max_drop
    return out


def validate(
    bundle: Bundle,
    backend_names: list[str],
    sequences: list[Triplet],
    out_dir: Path,
    max_drop: float = 0.1,
    model: TwoStageModel | None = None,
    threads: int = 0,
    worst: int = 3,
    command: str = "",
    log=print,
) -> dict[str, Any]:
    """Validate ``bundle``'s backends on ``sequences``; writes crops into ``out_dir/crops``."""
    if not sequences:
        raise ValueError("no sequences to validate on")
    model = model if model is not None else source_model(bundle)
    crops = out_dir / "crops"
    crops.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for name in backend_names:
        mod = backend_modules.get(name)
        if name not in bundle.manifest["backends"]:
            raise BundleError(f"{bundle.root}: bundle has no {name} artifacts (it has: {', '.join(bundle.backends)})")
        if not mod.RUNNABLE:
            results[name] = {"executed": False, "note": "converted and spec-validated only; cannot run on Linux"}
            continue
        runtime = BundleBackend(bundle, name, threads)
        runner = Runner(runtime, overlap=runtime.overlap)
        reference = _eager_runner(model, bundle, name)
        rows, frames = [], {}
        t0 = time.perf_counter()
        for seq in sequences:
            pair = reference.prepare(seq.img0, seq.img1)
            ref = reference.synthesize(pair, 0.5)[0].clamp(0, 1)
            (out,) = runner.interpolate(seq.img0, seq.img1, [0.5])
            out = out[0].clamp(0, 1)
            ref8, out8 = quantize_8bit(ref), quantize_8bit(out)
            motion = motion_magnitude(pair.m0, pair.canvas_hw, tuple(seq.gt.shape[-2:]))
            p_ref, p_out = psnr(ref8, seq.gt), psnr(out8, seq.gt)
            rows.append(
                {
                    "dataset": seq.dataset,
                    "path": seq.path,
                    "size": [int(seq.gt.shape[-1]), int(seq.gt.shape[-2])],
                    "motion_px": round(motion, 3),
                    "bucket": bucket_of(motion),
                    "psnr_fp32": round(p_ref, 4),
                    "psnr_bundle": round(p_out, 4),
                    "drop": round(p_ref - p_out, 4),
                    "ssim_fp32": round(ssim(ref8, seq.gt), 5),
                    "ssim_bundle": round(ssim(out8, seq.gt), 5),
                    "psnr_vs_fp32": round(min(psnr(out8, ref8), 999.0), 3),
                }
            )
            frames[(seq.dataset, seq.path)] = (ref, out)
        per_dataset = {}
        for dataset in dict.fromkeys(r["dataset"] for r in rows):
            sel = [r for r in rows if r["dataset"] == dataset]
            summary = _summary(sel, max_drop)
            summary["worst"] = []
            for r in sorted(sel, key=lambda r: r["drop"], reverse=True)[:worst]:
                ref, out = frames[(dataset, r["path"])]
                box = worst_crop(ref, out)
                safe = r["path"].replace("/", "_").replace("\\", "_").strip("._") or "root"
                png = crops / f"{name}_{dataset}_{safe}.png"
                save_crop_strip(png, ref, out, box)
                summary["worst"].append(
                    {"path": r["path"], "drop": r["drop"], "box": list(box), "png": str(png.relative_to(out_dir))}
                )
            per_dataset[dataset] = summary
            log(
                f"{name} {dataset}: FP32 {summary['psnr_fp32']:.3f} dB, bundle {summary['psnr_bundle']:.3f} dB, "
                f"drop {summary['drop']:+.3f} dB ({'pass' if summary['pass'] else 'FAIL'})"
            )
        results[name] = {
            "executed": True,
            "datasets": per_dataset,
            "pass": all(d["pass"] for d in per_dataset.values()),
            "seconds": round(time.perf_counter() - t0, 1),
            "sequences": rows,
        }
    m = bundle.manifest
    executed = [r for r in results.values() if r.get("executed")]
    return {
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "bundle": str(bundle.root),
        "model": m["model"]["name"],
        "precision": m["precision"],
        "source_sha256": m["source"]["sha256"],
        "reference": "eager FP32 PyTorch (CPU), same warp variant, canvas, tile and overlap as each backend",
        "max_drop": max_drop,
        "motion_buckets_px": {name: [lo, None if math.isinf(hi) else hi] for name, lo, hi in BUCKETS},
        "backends": results,
        "pass": bool(executed) and all(r["pass"] for r in executed),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "threads": threads or torch.get_num_threads(),
        },
        "tools": tool_versions(),
    }


def plot_drop_by_motion(report: dict[str, Any], path: Path) -> bool:
    """Bar chart of the drop per backend × motion bucket (all datasets); False if matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [n for n, r in report["backends"].items() if r.get("executed")]
    if not names:  # nothing ran (e.g. Core ML only): no drop to plot
        return False
    buckets = [b[0] for b in BUCKETS]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        rows = report["backends"][name]["sequences"]
        drops = []
        for b in buckets:
            sel = [r["drop"] for r in rows if r["bucket"] == b]
            drops.append(sum(sel) / len(sel) if sel else float("nan"))
        ax.bar([k + i * width for k in range(len(buckets))], drops, width, label=name)
    ax.axhline(report["max_drop"], color="red", linestyle="--", linewidth=1, label="budget")
    ax.set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(buckets))])
    counts = (
        {b: sum(1 for r in report["backends"][names[0]]["sequences"] if r["bucket"] == b) for b in buckets}
        if names
        else {}
    )
    ax.set_xticklabels([f"{b}\n(n={counts.get(b, 0)})" for b in buckets])
    ax.set_ylabel("PSNR drop vs FP32 (dB)")
    ax.set_title(f"{report['model']} {report['precision']}: drop by motion magnitude")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return True


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: verdict, per backend × dataset table, buckets, worst crops."""
    lines = [
        f"# Accuracy-drop validation: {report['model']} ({report['precision']})",
        "",
        f"- verdict: **{'PASS' if report['pass'] else 'FAIL'}** (budget: mean-PSNR drop ≤ {report['max_drop']} dB "
        "per backend × dataset)",
        f"- reference: {report['reference']}",
        f"- bundle: `{report['bundle']}` (source sha256 {str(report['source_sha256'])[:12]}…)",
        f"- command: `{report['command']}`",
        "- tools: " + ", ".join(f"{k} {v}" for k, v in report["tools"].items() if v),
        "",
        "| backend | dataset | n | PSNR FP32 | PSNR bundle | drop (dB) | SSIM FP32 | SSIM bundle "
        "| min PSNR vs FP32 | pass |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in report["backends"].items():
        if not r.get("executed"):
            lines.append(f"| {name} | — | — | — | — | — | — | — | — | not executed: {r['note']} |")
            continue
        for dataset, s in r["datasets"].items():
            lines.append(
                f"| {name} | {dataset} | {s['n']} | {s['psnr_fp32']:.3f} | {s['psnr_bundle']:.3f} | {s['drop']:+.3f} | "
                f"{s['ssim_fp32']:.4f} | {s['ssim_bundle']:.4f} | {s['min_psnr_vs_fp32']:.1f} | "
                f"{'yes' if s['pass'] else '**no**'} |"
            )
    lines += [
        "",
        "## Drop by motion magnitude (mean displacement between the frames, frame pixels)",
        "",
        "| backend | dataset | bucket | n | PSNR FP32 | drop (dB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in report["backends"].items():
        for dataset, s in r.get("datasets", {}).items():
            for b, v in s["buckets"].items():
                rng = f"{v['range_px'][0]}–{v['range_px'][1] or '∞'} px"
                lines.append(
                    f"| {name} | {dataset} | {b} ({rng}) | {v['n']} | {v['psnr_fp32']:.3f} | {v['drop']:+.3f} |"
                )
    lines += ["", "## Worst sequences (crop: FP32 | bundle | |difference| × 8)", ""]
    for name, r in report["backends"].items():
        for dataset, s in r.get("datasets", {}).items():
            for w in s["worst"]:
                lines.append(f"- {name} / {dataset} / `{w['path']}`: drop {w['drop']:+.3f} dB — ![]({w['png']})")
    return "\n".join(lines) + "\n"
