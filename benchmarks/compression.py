"""FP32 vs pruned vs INT8 (PTQ, QAT) per backend, in ONE run and ONE table.

For each model of ``--models`` (default: the shipped default and its pruned version ``apr-s-p60``):
an FP32 bundle, an INT8 PTQ bundle (NNCF, calibrated on ``--calib``, the training footage; never the
val set) and an INT8 QAT bundle (``--qat-steps`` per graph, starting from that PTQ; ExecuTorch and
LiteRT, the routes QAT is built for) for ExecuTorch, LiteRT and ONNX Runtime. Each INT8 bundle goes
through ``edgevfi validate`` on ``--data`` (its FP32 column is eager PyTorch at the same static
shapes and warp variant, which ``benchmarks/export.py`` shows equal to each FP32 backend to
> 125 dB); then every bundle is timed per output frame at ``--size`` through the tiled Runner, all in
this one process, so the time ratios are side by side.

    python benchmarks/compression.py [--models apr-s,apr-s-p60] [--qat-steps 120] [--threads 2]

Writes ``--out``/results.json, table.md and each bundle's validation report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

# This script's folder comes first on sys.path and its own name would shadow the packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

from edgevfi import models  # noqa: E402
from edgevfi.runtime import Runner  # noqa: E402
from edgevfi.runtime.backend import EagerBackend  # noqa: E402
from export.bundle import BundleBackend, load_bundle, write_bundle  # noqa: E402
from quantize.calibration import calibration_pairs  # noqa: E402
from quantize.int8 import write_int8_bundle  # noqa: E402
from quantize.qat import DEFAULT_QAT_LR  # noqa: E402
from quantize.validate import load_sequences, markdown, validate  # noqa: E402

BACKENDS = ["et", "litert", "onnx"]
QAT_BACKENDS = ("et", "litert")
LABELS = {"et": "ExecuTorch", "litert": "LiteRT", "onnx": "ONNX Runtime"}


def frame_time(runner: Runner, size: tuple[int, int], runs: int) -> float:
    """Median seconds per output frame (motion + all windows) at ``size`` (H, W)."""
    g = torch.Generator().manual_seed(0)
    img0 = torch.rand(1, 3, *size, generator=g)
    img1 = torch.roll(img0, shifts=(3, 5), dims=(-2, -1))
    list(runner.interpolate(img0, img1, [0.5]))  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        list(runner.interpolate(img0, img1, [0.5]))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bundle_bytes(root: Path, backend: str) -> int:
    return sum(p.stat().st_size for p in (root / backend).rglob("*") if p.is_file())


def validated(bundle: Path, names: list[str], model, sequences, out: Path, threads: int) -> dict:
    """``edgevfi validate``'s per-backend summary of ``bundle`` (first dataset)."""
    report = validate(
        load_bundle(bundle),
        names,
        sequences,
        out,
        model=model,
        threads=threads,
        command=" ".join(sys.argv),
        log=lambda *_: None,
    )
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown(report))
    return {name: next(iter(report["backends"][name]["datasets"].values())) for name in names}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=f"{models.default_model_name()},apr-s-p60")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--qat-steps", type=int, default=120, help="QAT steps per graph (0: no QAT rows)")
    ap.add_argument("--qat-lr", type=float, default=DEFAULT_QAT_LR)
    ap.add_argument("--data", default="../shared/data/val")
    ap.add_argument("--limit", type=int, help="first N val triplets only (a quick look, not the table)")
    ap.add_argument("--calib", default="../shared/data")
    ap.add_argument("--calib-count", type=int, default=32)
    ap.add_argument("--out", default="out/compression-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", default="1280x720", help="WxH of the latency frames")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    W, H = (int(v) for v in args.size.split("x"))
    names = [b for b in args.backends.split(",") if b]
    qat_names = [b for b in names if b in QAT_BACKENDS] if args.qat_steps else []
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    quiet = lambda *_: None  # noqa: E731
    calib = calibration_pairs(args.calib, args.calib_count)
    sequences = load_sequences([args.data], args.limit)
    results = []
    eager_times = {}
    for model_name in args.models.split(","):
        model = models.create(model_name, pretrained=True).eval()
        src = models.shipped_weights(model_name)
        root = out / model_name
        root.mkdir()
        t0 = time.perf_counter()
        bundles = {"FP32": write_bundle(model, root / "fp32", names, model_name=model_name, source=src, log=quiet)}
        bundles["INT8 PTQ"] = write_int8_bundle(
            model, root / "ptq", names, calib, model_name=model_name, source=src, log=quiet
        )
        qat_records = {}
        if qat_names:
            bundles["INT8 QAT"] = write_int8_bundle(
                model,
                root / "qat",
                qat_names,
                calib,
                model_name=model_name,
                source=src,
                qat_steps=args.qat_steps,
                qat_lr=args.qat_lr,
                log=print,
            )
            manifest = load_bundle(bundles["INT8 QAT"]).manifest
            qat_records = {b: manifest["backends"][b]["quantization"].get("qat") for b in qat_names}
        print(f"{model_name}: bundles in {time.perf_counter() - t0:.0f} s (calibration: {calib.source})", flush=True)
        quality = {
            "INT8 PTQ": validated(bundles["INT8 PTQ"], names, model, sequences, root / "validate-ptq", args.threads)
        }
        if qat_names:
            quality["INT8 QAT"] = validated(
                bundles["INT8 QAT"], qat_names, model, sequences, root / "validate-qat", args.threads
            )
        eager_times[model_name] = frame_time(Runner(EagerBackend(model, max_batch=1)), (H, W), args.runs)
        card = json.loads(src.with_suffix(".json").read_text())
        gmac = card["macs_720p"]["total"] / 1e9
        for name in names:
            for variant, bundle in bundles.items():
                if variant == "INT8 QAT" and name not in qat_names:
                    continue
                q = quality["INT8 PTQ" if variant == "FP32" else variant][name]
                runtime = BundleBackend(load_bundle(bundle, name), name, threads=args.threads)
                results.append(
                    {
                        "model": model_name,
                        "backend": name,
                        "variant": variant,
                        "gmac_720p": round(gmac, 2),
                        "psnr": q["psnr_fp32"] if variant == "FP32" else q["psnr_bundle"],
                        "drop": None if variant == "FP32" else q["drop"],
                        "large_motion_drop": None if variant == "FP32" else q["buckets"].get("large", {}).get("drop"),
                        "n": q["n"],
                        "size_mb": round(bundle_bytes(bundle, name) / 1e6, 2),
                        "s_per_frame": round(frame_time(Runner(runtime), (H, W), args.runs), 4),
                        "qat": qat_records.get(name) if variant == "INT8 QAT" else None,
                    }
                )
                print(
                    f"  {name} {variant}: {results[-1]['psnr']:.3f} dB, {results[-1]['s_per_frame']:.3f} s/frame",
                    flush=True,
                )
                # Written after every row (the last write is the whole run), so a run cut short keeps what it measured.
                record = {"command": " ".join(sys.argv), "eager_s_per_frame": eager_times, "rows": results}
                (out / "results.json").write_text(json.dumps(record, indent=2))
    ref = {(r["backend"]): r for r in results if r["model"] == results[0]["model"] and r["variant"] == "FP32"}
    lines = [
        f"{', '.join(eager_times)} on {args.data} ({results[0]['n']} triplets); time per output frame at {W}x{H}, "
        f"{args.threads} threads, through the tiled Runner (eager PyTorch FP32: "
        + ", ".join(f"{m} {t:.3f} s" for m, t in eager_times.items())
        + f"); QAT: {args.qat_steps} steps per graph, lr {args.qat_lr:g}, from NNCF PTQ; "
        f"calibration {calib.source} ({args.calib_count} pairs)",
        "",
        f"| backend | model | variant | GMAC @720p | PSNR (dB) | drop vs its FP32 (dB) | large-motion drop | "
        f"drop vs {results[0]['model']} FP32 | size (MB) | s / frame | time vs {results[0]['model']} FP32 |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        for r in (r for r in results if r["backend"] == name):
            base = ref[name]
            drop = "–" if r["drop"] is None else f"{r['drop']:+.3f}"
            large = "–" if r["large_motion_drop"] is None else f"{r['large_motion_drop']:+.3f}"
            vs = "–" if r is base else f"{base['psnr'] - r['psnr']:+.3f}"
            ratio = "1.00" if r is base else f"{r['s_per_frame'] / base['s_per_frame']:.2f}"
            lines.append(
                f"| {LABELS[name]} | {r['model']} | {r['variant']} | {r['gmac_720p']:.1f} | {r['psnr']:.3f} | {drop} "
                f"| {large} | {vs} | {r['size_mb']:.2f} | {r['s_per_frame']:.3f} | {ratio} |"
            )
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    print("\n" + table)  # results.json: already complete, written after the last row
    return 0


if __name__ == "__main__":
    sys.exit(main())
