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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("cache/traindev"))
    p.add_argument("--train", type=Path, default=SHARED, help="the training clips' folder (with manifest.csv)")
    p.add_argument("--clips", type=int, default=36, help="clips to draw one window from (default 36)")
    p.add_argument("--seed", type=int, default=35)
    args = p.parse_args(argv)
    manifest = args.train / "manifest.csv"
    if not manifest.is_file():
        print(f"traindev_triplets: {manifest} not found", file=sys.stderr)
        return 2
    rows = list(csv.DictReader(manifest.open()))
    rng = random.Random(args.seed)
    rng.shuffle(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    for row in rows[: args.clips]:
        cuts = scene_cuts(row["scene_cuts"] or "")
        frames, s = int(row["frames"]), rng.choice([1, 2, 3, 4])
        for _ in range(20):
            i = rng.randrange(0, frames - 2 * s - 1)
            if not any(i < c <= i + 2 * s for c in cuts):
                break
        got = window_frames(args.train / row["file"], {i, i + s, i + 2 * s})
        if len(got) < 3:
            continue
        a, b, c = got[i], got[i + s], got[i + 2 * s]
        if np.abs(a.astype(int) - c.astype(int)).mean() < 1.0:
            continue
        d = args.out / f"{Path(row['file']).stem[:40]}_f{i}_s{s}"
        d.mkdir(exist_ok=True)
        for name, x in (("im1", a), ("im2", b), ("im3", c)):
            Image.fromarray(x).save(d / f"{name}.png")
        written += 1
    print(f"{written} triplets in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
