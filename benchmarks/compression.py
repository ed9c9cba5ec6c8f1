"""FP32 vs INT8 per backend, in ONE run: PSNR on val, drop, MACs, size on disk, latency ratio.

For the shipped default (or ``--model``): an FP32 bundle and an INT8 bundle (NNCF PTQ calibrated
on ``--calib``, the training footage; never the val set) for ExecuTorch, LiteRT and ONNX Runtime;
``edgevfi validate`` of the INT8 bundle on ``--data`` (its FP32 column is eager PyTorch at the same
static shapes, which ``benchmarks/export.py`` shows equal to each FP32 backend to > 125 dB); then the
time per output frame at ``--size`` through the tiled Runner, FP32 and INT8 side by side.

    python benchmarks/compression.py [--data ../shared/data/val] [--calib ../shared/data] [--threads 2]

The pruned model is measured the same way with ``--model apr-s-p60`` (a separate run: its own FP32
column is the pruned FP32 model); QAT rows are not in this table (``edgevfi export --qat-steps``; see
the README for why PTQ stays the default).
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
from quantize.validate import load_sequences, markdown, plot_drop_by_motion, validate  # noqa: E402

BACKENDS = ["et", "litert", "onnx"]


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=models.default_model_name())
    ap.add_argument("--data", default="../shared/data/val")
    ap.add_argument("--calib", default="../shared/data")
    ap.add_argument("--calib-count", type=int, default=32)
    ap.add_argument("--out", default="out/compression-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", default="1280x720", help="WxH of the latency frames")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    W, H = (int(v) for v in args.size.split("x"))
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model = models.create(args.model, pretrained=True).eval()
    src = models.shipped_weights(args.model)
    quiet = lambda *_: None  # noqa: E731
    t0 = time.perf_counter()
    fp32 = write_bundle(model, out / "fp32", BACKENDS, model_name=args.model, source=src, log=quiet)
    calib = calibration_pairs(args.calib, args.calib_count)
    int8 = write_int8_bundle(model, out / "int8", BACKENDS, calib, model_name=args.model, source=src, log=quiet)
    print(f"exported FP32 + INT8 bundles in {time.perf_counter() - t0:.0f} s (calibration: {calib.source})")

    report = validate(
        load_bundle(int8),
        BACKENDS,
        load_sequences([args.data]),
        out / "validate",
        model=model,
        threads=args.threads,
        command=" ".join(sys.argv),
        log=quiet,
    )
    (out / "validate" / "report.json").write_text(json.dumps(report, indent=2))
    (out / "validate" / "report.md").write_text(markdown(report))
    plot_drop_by_motion(report, out / "validate" / "drop_by_motion.png")

    eager = Runner(EagerBackend(model, max_batch=1))
    t_eager = frame_time(eager, (H, W), args.runs)
    rows = []
    manifest = load_bundle(int8).manifest
    macs = sum(g["macs"] for g in manifest["backends"]["et"]["graphs"].values())
    for name in BACKENDS:
        q = next(iter(report["backends"][name]["datasets"].values()))
        times = {}
        for label, root in (("fp32", fp32), ("int8", int8)):
            runtime = BundleBackend(load_bundle(root, name), name, threads=args.threads)
            times[label] = frame_time(Runner(runtime), (H, W), args.runs)
        rows.append((name, q, times, bundle_bytes(fp32, name), bundle_bytes(int8, name)))

    print(
        f"\n{args.model}, {args.data} ({q['n']} triplets), "
        f"latency per output frame at {W}x{H}, {args.threads} threads (eager PyTorch FP32: {t_eager:.3f} s)\n"
    )
    print(
        "| backend | variant | PSNR (dB) | drop vs FP32 (dB) | large-motion drop | MACs/graph call | size (MB) "
        "| s/frame | INT8 / FP32 time |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, q, times, b32, b8 in rows:
        large = q["buckets"].get("large", {}).get("drop")
        print(
            f"| {name} | FP32 | {q['psnr_fp32']:.3f} | — | — | {macs / 1e9:.2f} G | {b32 / 1e6:.2f} "
            f"| {times['fp32']:.3f} | |"
        )
        print(
            f"| {name} | INT8 PTQ | {q['psnr_bundle']:.3f} | {q['drop']:+.3f} | "
            f"{'—' if large is None else f'{large:+.3f}'} | {macs / 1e9:.2f} G | {b8 / 1e6:.2f} | "
            f"{times['int8']:.3f} | {times['int8'] / times['fp32']:.2f} |"
        )
    print(f"\nfull validation report: {out / 'validate'} (report.md, crops, drop_by_motion.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
