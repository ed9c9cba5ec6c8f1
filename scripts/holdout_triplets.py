"""Triplets from real clips that no EdgeVFI model or assessor was trained on (OpenCV's sample videos).

    python scripts/holdout_triplets.py --out cache/holdout

Downloads Debian's ``opencv-doc`` package (apt, by name) and decodes ``Megamind.avi`` (animation),
``tree.avi``, ``box.mp4`` and ``cup.mp4`` — none of them is in ``../shared/data`` (only ``vtest.avi``
is, and it is left out here). Per clip, ``--per-clip`` windows (i, i+s, i+2s) at evenly spaced
starts with strides cycling 1, 2, 3; a window whose three frames are not one shot (a frame
difference far above its neighbours') is skipped. Written in the Vimeo layout
(``<out>/opencv/<clip>_f<i>_s<s>/im{1,2,3}.png``) for ``edgevfi eval`` and ``benchmarks/routing.py``.
Licence: OpenCV, Apache-2.0 AND BSD-3-Clause (Debian ``copyright``).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np
from PIL import Image

CLIPS = {
    "megamind": "usr/share/doc/opencv-doc/examples/data/Megamind.avi",
    "tree": "usr/share/doc/opencv-doc/examples/data/tree.avi",
    "box": "usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz",
    "cup": "usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz",
}


def fetch_opencv_doc(work: Path) -> Path:
    subprocess.run(["apt-get", "download", "opencv-doc"], cwd=work, check=True, capture_output=True)
    deb = next(work.glob("opencv-doc_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "x")], check=True)
    return work / "x"


def decode(path: Path) -> list[np.ndarray]:
    if path.suffix == ".gz":
        plain = path.with_suffix("")
        with gzip.open(path) as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        path = plain
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="cache/holdout")
    p.add_argument("--per-clip", type=int, default=8)
    p.add_argument("--deb-dir", default=None, help="an already unpacked opencv-doc (skips apt)")
    a = p.parse_args()
    out = Path(a.out) / "opencv"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.deb_dir) if a.deb_dir else fetch_opencv_doc(Path(tmp))
        written = 0
        for name, rel in CLIPS.items():
            src = root / rel
            if src.suffix == ".gz":
                src = Path(shutil.copy(src, Path(tmp) / src.name))
            frames = decode(src)
            diffs = np.array([mad(frames[i], frames[i + 1]) for i in range(len(frames) - 1)])
            typical = float(np.median(diffs)) + 1.0
            starts = np.linspace(2, len(frames) - 10, a.per_clip * 2).astype(int)
            kept = 0
            for k, i in enumerate(starts):
                s = 1 + k % 3
                window = diffs[i : i + 2 * s]
                if window.max() > 4 * typical + 8:  # a cut inside the window
                    continue
                seq = out / f"{name}_f{i:04d}_s{s}"
                seq.mkdir(exist_ok=True)
                for j, fi in enumerate((i, i + s, i + 2 * s)):
                    Image.fromarray(frames[fi]).save(seq / f"im{j + 1}.png")
                kept += 1
                written += 1
                if kept == a.per_clip:
                    break
            print(f"{name}: {kept} triplets ({frames[0].shape[1]}x{frames[0].shape[0]}, {len(frames)} frames)")
    print(f"{written} triplets in {out}")


if __name__ == "__main__":
    main()
