"""Portrait frames through a bundle, in ONE run: landscape vs portrait, motion transposed or squeezed.

A bundle's motion graphs have landscape canvases (512x288 and the 16:9 fine canvases). A portrait
frame resized onto them loses most of its rows (a 1080x1920 frame keeps 0.15 of its rows and 0.47 of
its columns on 512x288); the Runner instead runs such a pair's motion on the transposed frames
(``edgevfi.runtime.runner.crosses_canvas``). This scores every ``--data`` triplet per backend as it is
(landscape) and made portrait two ways — turned a quarter (the clip's motion turns with it) and cut to a
9:16 centre crop at full height (portrait framing, the motion as filmed) — each with the transposed motion
and squeezed onto the canvas as before (``Runner(transpose_crossing=False)``).

    python benchmarks/portrait.py BUNDLE [--backend onnx,litert] [--data ../shared/data/val] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# Import the packages before this folder joins the path: benchmarks/export.py would shadow `export`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from edgevfi.data.triplets import find_triplets  # noqa: E402
from edgevfi.io import atomic_output  # noqa: E402
from edgevfi.runtime import Runner  # noqa: E402
from export.bundle import BundleBackend, load_bundle  # noqa: E402

sys.path.append(str(HERE))
from bundle_canvas import score  # noqa: E402

# (label, frames, transposed motion): "turned" frames are the clips a quarter turn round (their motion
# turns too), "cropped" ones a 9:16 centre crop at full height (portrait framing, motion as filmed).
WAYS = (
    ("landscape", "as is", True),
    ("turned, motion transposed", "turned", True),
    ("turned, squeezed", "turned", False),
    ("9:16 crop, motion transposed", "cropped", True),
    ("9:16 crop, squeezed", "cropped", False),
)


def portrait(x: torch.Tensor, frames: str) -> torch.Tensor:
    """A (1, 3, H, W) frame as it is, turned a quarter, or centre-cropped to 9:16 at full height."""
    if frames == "turned":
        return torch.rot90(x, 1, dims=(-2, -1)).contiguous()
    if frames == "cropped":
        H, W = x.shape[-2:]
        w = min(W, round(H * 9 / 16))
        return x[..., (W - w) // 2 : (W - w) // 2 + w].contiguous()
    return x


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--backend", default="et,litert,onnx")
    p.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "val"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    folders = find_triplets(args.data) if Path(args.data).exists() else []
    if not folders:
        sys.exit(f"benchmarks/portrait.py: no triplets under {args.data}")
    rows = []
    for name in [b.strip() for b in args.backend.split(",") if b.strip()]:
        backend = BundleBackend(load_bundle(args.bundle, name), name, args.threads)
        for way, frames, transpose in WAYS:
            r = score(Runner(backend, transpose_crossing=transpose), folders, frames=lambda x, f=frames: portrait(x, f))
            rows.append({"backend": name, "frames": way, **r})
            print(f"{name} {way}: {r['psnr']:.3f} dB", file=sys.stderr, flush=True)

    print(f"\nPSNR / SSIM on {Path(args.data).name} ({len(folders)} triplets), {args.bundle}\n")
    print("| backend | frames | PSNR (dB) | SSIM | second pass |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        refined = sum(1 for t in r["per_triplet"] if max(t["canvas"]) > 512)
        print(f"| {r['backend']} | {r['frames']} | {r['psnr']:.3f} | {r['ssim']:.4f} | {refined}/{len(folders)} |")
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
