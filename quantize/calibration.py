"""Calibration data for INT8: real frame pairs → the exact inputs each static graph sees.

Frame pairs come from the training footage (``../shared/data``: never the val set), a triplet
folder, a video file, or seeded synthetic textures (``generated``, for tests and smoke runs only).
They run through the one tiled :class:`~edgevfi.runtime.runner.Runner` at the bundle's static
shapes, and a recording backend keeps every motion-graph and synth-graph input: calibration then
sees the canvas resizing, the window crops and the upsampled motion exactly as deployment does.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from edgevfi.models.base import TwoStageModel
from edgevfi.ops.tiles import resize_to
from edgevfi.runtime.backend import EagerBackend
from edgevfi.runtime.runner import Runner
from export.graphs import motion_graph_name

#: Frame size of calibration pairs cut from training clips: a 16:9 frame larger than the canvas,
#: so both the motion resize and multi-window tiling occur, as on real footage.
CLIP_FRAME = (360, 640)
#: extra output times per calibration pair, cycling: the ends of the range come first
EXTRA_T = (0.95, 0.05, 0.75, 0.25, 0.875, 0.125, 0.625, 0.375)


@dataclass
class CalibrationPairs:
    """Frame pairs (each ``(img0, img1, t)``, frames (1, 3, H, W) in [0, 1]) and where they came from."""

    source: str
    pairs: list[tuple[Tensor, Tensor, float]] = field(default_factory=list)


def from_training_clips(root: str | Path, count: int, seed: int = 0) -> CalibrationPairs:
    """``count`` random pairs (stride 1–4, any t) from the shared training clips (not ``val/``)."""
    from edgevfi.data.video import build_training_set

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clips smaller than the frame size are skipped, as in training
        ds = build_training_set(Path(root), crop=CLIP_FRAME, seed=seed, color_jitter=0.0)
    items = [ds[i] for i in range(count)]
    pairs = [(it["img0"][None], it["img1"][None], float(it["t"])) for it in items]
    return CalibrationPairs(f"{root}: {count} random training-clip pairs, {CLIP_FRAME[1]}x{CLIP_FRAME[0]}", pairs)


def from_triplets(folder: str | Path, count: int, seed: int = 0) -> CalibrationPairs:
    """Up to ``count`` triplets (first and last frame, t = 0.5) of a Vimeo-layout folder."""
    from edgevfi.data.triplets import TripletFolder

    data = TripletFolder(folder)
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    pairs = []
    for i in order[:count]:
        item = data[i]
        pairs.append((item["img0"][None], item["img1"][None], 0.5))
    return CalibrationPairs(f"{folder}: {len(pairs)} triplets", pairs)


def decode_frames(path: str | Path, limit: int | None = None) -> list[Tensor]:
    """Up to ``limit`` frames of a video as (3, H, W) float tensors in [0, 1]; one-line error if undecodable."""
    import av
    import numpy as np

    frames: list[Tensor] = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                frames.append(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0)
                if limit and len(frames) >= limit:
                    break
    except av.error.FFmpegError as e:
        raise ValueError(f"{path}: cannot decode video ({e})") from None
    return frames


def from_video(path: str | Path, count: int, stride: int = 1) -> CalibrationPairs:
    """The first ``count`` consecutive pairs (``stride`` frames apart) of a video, t = 0.5."""
    frames = [f[None] for f in decode_frames(path, count * stride + 1)]
    pairs = [(frames[i], frames[i + stride], 0.5) for i in range(0, len(frames) - stride, stride)][:count]
    if not pairs:
        raise ValueError(f"{path}: fewer than two frames to calibrate on")
    return CalibrationPairs(f"{path}: {len(pairs)} consecutive frame pairs", pairs)


def generated(count: int, size: tuple[int, int] = (96, 160), seed: int = 0) -> CalibrationPairs:
    """Seeded smooth textures and shifted copies (tests and smoke runs; not real footage)."""
    g = torch.Generator().manual_seed(seed)
    H, W = size
    pairs = []
    for _ in range(count):
        base = torch.rand(1, 3, H // 8 + 4, W // 8 + 4, generator=g)
        tex = torch.nn.functional.interpolate(base, size=(H + 32, W + 32), mode="bicubic", align_corners=False)
        tex = (tex + 0.1 * torch.rand(tex.shape, generator=g)).clamp(0, 1)
        dy, dx = (int(v) for v in torch.randint(-12, 13, (2,), generator=g))
        img0 = tex[..., 16 : 16 + H, 16 : 16 + W]
        img1 = tex[..., 16 + dy : 16 + dy + H, 16 + dx : 16 + dx + W]
        pairs.append((img0.contiguous(), img1.contiguous(), 0.5))
    return CalibrationPairs(f"generated: {count} synthetic texture pairs {W}x{H} (not real footage)", pairs)


def holdout_triplets(spec: str, count: int, seed: int = 1000) -> list[tuple[Tensor, Tensor, Tensor, float]]:
    """``(img0, img1, gt, t)`` triplets for the accuracy-budget search, drawn with another seed
    than calibration: training clips, a triplet folder, a video (frames i, i+1, i+2), or
    ``generated`` (a texture moving by an even shift, whose middle is known exactly)."""
    if spec == "generated":
        g = torch.Generator().manual_seed(seed)
        out = []
        for _ in range(count):
            H, W = 72, 120
            base = torch.rand(1, 3, H // 8 + 4, W // 8 + 4, generator=g)
            tex = torch.nn.functional.interpolate(base, size=(H + 32, W + 32), mode="bicubic").clamp(0, 1)
            dy, dx = (2 * int(v) for v in torch.randint(-5, 6, (2,), generator=g))
            crops = [
                tex[..., 16 + k * dy // 2 : 16 + k * dy // 2 + H, 16 + k * dx // 2 : 16 + k * dx // 2 + W]
                for k in (0, 1, 2)
            ]
            out.append((crops[0].contiguous(), crops[2].contiguous(), crops[1].contiguous(), 0.5))
        return out
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"{spec}: no such budget data (a triplet folder, video, data folder or 'generated')")
    if path.is_file():
        from quantize.validate import video_triplets

        return [(a[None], b[None], g[None], 0.5) for _, a, b, g in video_triplets(path, count)[:count]]
    if (path / "train").is_dir() or (path / "data" / "train").is_dir():
        from edgevfi.data.video import build_training_set

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = build_training_set(path, crop=CLIP_FRAME, seed=seed, color_jitter=0.0)
        items = [ds[i] for i in range(count)]
        return [(it["img0"][None], it["img1"][None], it["gt"][None], float(it["t"])) for it in items]
    from edgevfi.data.triplets import TripletFolder

    data = TripletFolder(path)
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    return [(data[i]["img0"][None], data[i]["img1"][None], data[i]["gt"][None], 0.5) for i in order[:count]]


def calibration_pairs(spec: str, count: int, seed: int = 0) -> CalibrationPairs:
    """Pairs from ``spec``: ``generated``, a video file, a triplet folder, or a shared data folder
    holding ``train/`` (training clips)."""
    if spec == "generated":
        return generated(count, seed=seed)
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"{spec}: no such calibration source (a triplet folder, video, data folder or 'generated')")
    if path.is_file():
        return from_video(path, count)
    if (path / "train").is_dir() or (path / "data" / "train").is_dir():
        return from_training_clips(path, count, seed)
    return from_triplets(path, count, seed)


class RecordingBackend:
    """An eager backend at static shapes that keeps the inputs of every graph call."""

    def __init__(self, model: TwoStageModel, canvas_hw: tuple[int, int], tile: int) -> None:
        self.inner = EagerBackend(model, max_batch=1, canvas_hw=canvas_hw, tile=tile)
        for name in ("name", "displacement_channels", "align", "halo", "canvas_hw", "tile", "max_batch"):
            setattr(self, name, getattr(self.inner, name))
        self.calls: dict[str, list[tuple[Tensor, ...]]] = {"motion": [], "synth": []}

    def default_canvas(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        return self.inner.default_canvas(frame_hw)

    def refine_canvas(
        self, frame_hw: tuple[int, int], canvas_hw: tuple[int, int], m0: Tensor, m1: Tensor
    ) -> tuple[int, int]:
        return self.inner.refine_canvas(frame_hw, canvas_hw, m0, m1)

    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        self.calls["motion"].append((img0.clone(), img1.clone()))
        return self.inner.motion(img0, img1)

    def synthesize(self, src0, src1, mot0, mot1, shift0, shift1, t) -> Tensor:
        self.calls["synth"].append(tuple(x.clone() for x in (src0, src1, mot0, mot1, shift0, shift1, t)))
        return self.inner.synthesize(src0, src1, mot0, mot1, shift0, shift1, t)


def record_graph_inputs(
    model: TwoStageModel,
    calib: CalibrationPairs,
    canvas: tuple[int, int],
    tile: int,
    overlap: int = 32,
    max_synth: int = 64,
    seed: int = 0,
    fine_canvases: tuple[tuple[int, int], ...] = (),
) -> dict[str, list[tuple[Tensor, ...]]]:
    """Every motion input and up to ``max_synth`` window inputs (a seeded sample) of the pairs,
    each pair synthesized at its own t and at one of :data:`EXTRA_T`; with ``fine_canvases``, each
    pair resized to each of them for that canvas's motion graph (``motion_<H>x<W>``)."""
    backend = RecordingBackend(model, canvas, tile)
    runner = Runner(backend, overlap=overlap)
    for k, (img0, img1, t) in enumerate(calib.pairs):
        pair = runner.prepare(img0, img1)
        runner.synthesize(pair, t)
        # Every graph input that depends on t must be calibrated over the whole range deployment
        # uses (×16 slow motion reaches 1/16 … 15/16), not just the pairs' own t.
        runner.synthesize(pair, EXTRA_T[k % len(EXTRA_T)])
    synth = backend.calls["synth"]
    if len(synth) > max_synth:
        # Keep the windows of the extreme t values: they set the range of t-dependent inputs.
        ends = [w for e in EXTRA_T[:2] for w in [s for s in synth if abs(float(s[-1][0]) - e) < 1e-6][:1]]
        rest = [s for s in synth if all(s is not e for e in ends)]
        synth = ends + random.Random(seed).sample(rest, max_synth - len(ends))
    fine = {
        motion_graph_name(fc, canvas): [(resize_to(a, fc), resize_to(b, fc)) for a, b, _ in calib.pairs]
        for fc in fine_canvases
    }
    return {"motion": backend.calls["motion"], **fine, "synth": synth}
