"""Per-backend parity and op coverage of every shipped model, in ONE run.

For each model with shipped weights: export a bundle with ExecuTorch, LiteRT, ONNX and Core ML
(FP32), plus a Core ML FP16 bundle; then ``edgevfi check`` on generated odd-size frames and the real
triplets of ``--data``. Prints the parity table (graph max-abs, end-to-end PSNR vs the reference and
vs ground truth) and the op-coverage table as Markdown, and writes the full JSON reports.

    python benchmarks/export.py [--data ../shared/data/val] [--out out/export-bench] [--models apr-s]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

# This script's folder comes first on sys.path and its own name would shadow the export package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

from edgevfi import models  # noqa: E402
from export.bundle import write_bundle  # noqa: E402
from export.parity import check, markdown  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/val")
    ap.add_argument("--out", default="out/export-bench")
    ap.add_argument("--models", default=None, help="comma list (default: every model with shipped weights)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models.split(",") if args.models else [n for n in models.list_models() if models.shipped_weights(n)]
    data = args.data if Path(args.data).is_dir() else None
    if data is None:
        print(f"({args.data} not found: generated frames only)")
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    sections = []
    for name in names:
        model = models.create(name, pretrained=True)
        src = models.shipped_weights(name)
        t0 = time.perf_counter()
        fp32 = write_bundle(model, out / f"{name}", ["et", "litert", "onnx", "coreml"], model_name=name, source=src)
        fp16 = write_bundle(model, out / f"{name}-coreml16", ["coreml"], model_name=name, source=src, precision="fp16")
        print(f"{name}: exported in {time.perf_counter() - t0:.0f} s")
        report = check(fp32, data=data, limit=args.limit, threads=args.threads)
        (out / f"{name}-check.json").write_text(json.dumps(report, indent=2))
        v16 = json.loads((fp16 / "manifest.json").read_text())["backends"]["coreml"]["graphs"]
        sections.append(markdown(report))
        sections.append(
            "Core ML FP16: "
            + ", ".join(
                f"{g} {c['coverage']['total']} MIL ops, spec v{c['coverage']['validation']['spec_version']} "
                f"validated (not executed on Linux)"
                for g, c in v16.items()
            )
            + "\n"
        )
    print("\n".join(sections))
    (out / "report.md").write_text("\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
