"""Video in, video out: decode with PyAV → :class:`~edgevfi.runtime.Runner` → encode with PyAV.

Modes (one per run):

* ``factor`` N ∈ {2, 4, 8}: N−1 frames inserted per input pair at t = k/N, frame rate ×N, same duration.
  Every t is synthesized from the *original* pair (one motion pass per pair, then one synthesis per t),
  never by recursive halving, so errors do not compound.
* ``fps`` F: output timestamps are exact multiples of 1/F (the output time base *is* 1/F). Each output
  frame is synthesized at its true t between the two input frames around it, or copied when it falls
  exactly on an input frame. Works for up- and down-conversion and for variable-frame-rate input.
* ``slowmo`` with factor N: every frame kept, N−1 inserted per pair, time stretched ×N around the first
  frame (30 fps ×4 → 30 fps at quarter speed). Audio is dropped or time-stretched (FFmpeg ``atempo``,
  pitch kept) as chosen; it is never left unstretched, which would be out of sync.

Timestamps come from the container (frame PTS), not from frame counts, and all timestamp arithmetic is
exact (integers and :class:`~fractions.Fraction`): for ``factor``/``slowmo`` the output PTS of the k-th
frame after input frame i is ``N·pts_i + k·(pts_{i+1} − pts_i)`` in a time base N× finer (factor) or the
input's own time base (slow motion, shifted to keep the first frame in place), so VFR input stays VFR,
monotonic and correctly spaced, and video never drifts against audio however long the clip is.

Scene cuts and duplicates — a cheap test per pair on luma thumbnails (≤ 96 px on the long side, made by
FFmpeg's area scaler, so the cost does not depend on the frame size), see :class:`SceneTest`:

* **cut** when the mean absolute luma difference is ≥ 0.12 (of full scale) *and* the total-variation
  distance between the two 32-bin luma histograms is ≥ 0.30. Both must hold: a fast pan over texture
  has a large pixel difference but the same histogram (the model must run); two different shots differ
  in both. Frames inserted at a cut repeat the nearer input frame (t < ½ → the earlier one), never blend.
* **duplicate** when the mean difference is < 1.5/255 and the largest thumbnail difference < 8/255 (codec
  noise on a re-encoded still stays below both; a moving object changes its thumbnail pixels by far more):
  the inserted frames are copies and the model is not run.

Streaming: only the current pair (RGB uint8 + float tensors + thumbnails), the model's tile batch and the
encoder's own lookahead are held; audio packets are remuxed as they are demuxed. Nothing is O(frames) or
quadratic in the frame size.

Conversions (each reported as a note): 10-bit/12-bit input → 8-bit RGB → 8-bit output; alpha dropped
(colour channels kept as they are); odd width/height padded to even by repeating the last column/row
when the output pixel format subsamples chroma (yuv420p); nothing is cropped. Rotation (the display
matrix, read from the decoded frames' side data, flips included) and colour range/matrix/primaries/
transfer tags are copied to the output.

Bad input raises :class:`VideoError` with a one-line message. The output is written to a temp file in
the target folder and renamed only on success (:func:`edgevfi.io.atomic_output`); on any error or
Ctrl-C the temp file is closed without writing a trailer and removed.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import torch
from torch import Tensor

from edgevfi.io import atomic_output, to_uint8
from edgevfi.runtime.runner import PairMotion, Runner

__all__ = [
    "EncodeOptions",
    "PairKind",
    "Retimer",
    "SceneTest",
    "VideoError",
    "VideoInfo",
    "VideoOptions",
    "check_video_output",
    "default_codec",
    "interpolate_video",
    "is_image_path",
    "parse_bitrate",
    "parse_fps",
    "parse_size",
    "probe",
    "resolve_codec",
]


class VideoError(ValueError):
    """Bad video input or options; the message is one line and names the file."""


#: Suffixes treated as still images (the two-image path of ``edgevfi interpolate``), everything else as video.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})

#: Output containers by suffix. A file object is handed to FFmpeg (so an aborted run can skip the
#: trailer), which means the format cannot be guessed from the name and must be known here.
CONTAINERS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}

#: User-facing codec names → FFmpeg encoders, first available wins.
CODEC_ALIASES: dict[str, tuple[str, ...]] = {
    "h264": ("libx264", "h264"),
    "avc": ("libx264", "h264"),
    "h265": ("libx265", "hevc"),
    "hevc": ("libx265", "hevc"),
    "vp9": ("libvpx-vp9",),
    "av1": ("libsvtav1", "libaom-av1"),
    "prores": ("prores_ks", "prores"),
}

#: Default constant-quality value per encoder (visually near-transparent; x264 CRF 18 is the usual pick).
DEFAULT_CRF: dict[str, int] = {"libx264": 18, "libx265": 22, "libvpx-vp9": 30, "libsvtav1": 30, "libaom-av1": 30}

#: Encoders whose speed/size trade-off is the ``preset`` option.
PRESET_ENCODERS = frozenset({"libx264", "libx265", "libsvtav1"})

# AVColorSpace (frame/stream tags) → swscale colour-matrix constants (what ``reformat`` takes).
_SWS_COLORSPACE = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}


# ------------------------------------------------------------------------------------------ parsing


def is_image_path(path: str | Path) -> bool:
    """Whether ``path`` names a still image by its suffix (used to pick the two-image vs the video path)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


_NTSC = (24, 30, 48, 60, 120, 240)


def parse_fps(text: str) -> Fraction:
    """A frame rate: ``"60"``, ``"30000/1001"`` or ``"29.97"`` (decimal NTSC rates map to k·1000/1001).

    Raises ValueError for anything not strictly positive or above 1000 fps.
    """
    try:
        fps = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"frame rate must be a number like 60, 29.97 or 30000/1001, got {text!r}") from None
    if "." in text:
        # 29.97 means 30000/1001 in practice; the decimal would give timestamps that drift from NTSC sources.
        for k in _NTSC:
            ntsc = Fraction(k * 1000, 1001)
            if abs(fps - ntsc) < Fraction(1, 100):
                fps = ntsc
                break
    if not 0 < fps <= 1000:
        raise ValueError(f"frame rate must be in (0, 1000], got {text!r}")
    return fps


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` → (1280, 720); both at least 16 and at most 8192."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"size must be WIDTHxHEIGHT like 1280x720, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise ValueError(f"size must be between 16x16 and 8192x8192, got {text!r}")
    return w, h


def parse_bitrate(text: str) -> int:
    """``"4M"``, ``"800k"`` or ``"2500000"`` → bits per second."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*(?:b|bps)?\s*", text)
    if not m:
        raise ValueError(f"bitrate must be like 4M, 800k or 2500000, got {text!r}")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    if value < 1000:
        raise ValueError(f"bitrate {text!r} is below 1 kbit/s")
    return int(value)


def default_codec(dst: str | Path) -> str:
    """The codec used when none is asked for: H.264 (plays everywhere), VP9 for WebM (no H.264 allowed)."""
    return "vp9" if Path(dst).suffix.lower() == ".webm" else "h264"


def resolve_codec(name: str) -> str:
    """The FFmpeg encoder for a user-facing codec name (``h264`` → ``libx264``); VideoError if none is built in."""
    candidates = CODEC_ALIASES.get(name.lower(), (name,))
    for candidate in candidates:
        try:
            codec = av.Codec(candidate, "w")
        except (av.error.FFmpegError, ValueError):  # unknown name
            continue
        if codec.type == "video":
            return codec.name
    known = ", ".join(CODEC_ALIASES)
    raise VideoError(f"no video encoder for codec {name!r} in this FFmpeg build (try one of: {known})")


# ------------------------------------------------------------------------------------------ options


@dataclass
class EncodeOptions:
    """Video encoder settings. ``crf`` and ``bitrate`` are exclusive; ``None`` means the default here
    (codec: H.264, or VP9 for .webm, which cannot hold H.264)."""

    codec: str | None = None
    crf: int | None = None
    bitrate: int | None = None
    preset: str | None = None


class PairKind:
    """What a frame pair is, for the inserted frames: model output, a repeat at a cut, or a copy."""

    MOTION = "motion"
    CUT = "cut"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class SceneTest:
    """The cheap per-pair test for scene cuts and duplicate frames (see the module docstring).

    All values are on luma in [0, 1] of a thumbnail at most ``thumb`` pixels on its long side.
    Set ``cut_mad`` above 1 to never detect cuts.
    """

    cut_mad: float = 0.12
    cut_hist: float = 0.30
    dup_mad: float = 1.5 / 255
    dup_max: float = 8.0 / 255
    thumb: int = 96
    bins: int = 32

    def thumbnail(self, frame: av.VideoFrame) -> np.ndarray:
        """Full-range luma of ``frame`` area-downscaled by FFmpeg, float32 (h, w) in [0, 1]."""
        W, H = frame.width, frame.height
        scale = min(1.0, self.thumb / max(W, H))
        w, h = max(1, round(W * scale)), max(1, round(H * scale))
        small = frame.reformat(width=w, height=h, format="gray", interpolation="AREA", dst_color_range="JPEG")
        return small.to_ndarray().astype(np.float32) / 255.0

    def stats(self, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        """Mean and max absolute difference and the histogram distance of two thumbnails."""
        diff = np.abs(a - b)
        ha = np.histogram(a, bins=self.bins, range=(0.0, 1.0))[0] / a.size
        hb = np.histogram(b, bins=self.bins, range=(0.0, 1.0))[0] / b.size
        return {"mad": float(diff.mean()), "max": float(diff.max()), "hist": float(0.5 * np.abs(ha - hb).sum())}

    def classify(self, a: np.ndarray, b: np.ndarray) -> str:
        """:class:`PairKind` of the pair with thumbnails ``a`` and ``b``."""
        s = self.stats(a, b)
        if s["mad"] >= self.cut_mad and s["hist"] >= self.cut_hist:
            return PairKind.CUT
        if s["mad"] < self.dup_mad and s["max"] < self.dup_max:
            return PairKind.DUPLICATE
        return PairKind.MOTION


@dataclass
class VideoOptions:
    """Everything :func:`interpolate_video` does besides the model.

    ``fps`` selects the target-frame-rate mode (``factor`` then unused); ``slowmo`` keeps every frame and
    stretches time by ``factor``. ``audio="drop"`` drops audio in every mode; in slow motion
    ``slowmo_audio`` decides (``"drop"`` or ``"stretch"``). ``max_frames`` stops after that many input
    frames; ``size`` rescales frames (W, H) on decode. ``progress=None`` shows a bar only on a terminal.
    """

    factor: int = 2
    fps: Fraction | None = None
    slowmo: bool = False
    audio: Literal["copy", "drop"] = "copy"
    slowmo_audio: Literal["drop", "stretch"] = "drop"
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    scene: SceneTest = field(default_factory=SceneTest)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    progress: bool | None = None

    @property
    def mode(self) -> str:
        return "fps" if self.fps is not None else ("slowmo" if self.slowmo else "factor")

    def validate(self) -> None:
        """Raise VideoError for inconsistent options (before any file is touched)."""
        if self.fps is not None and self.slowmo:
            raise VideoError("--fps and --slowmo cannot be combined (slow motion keeps the input frame rate)")
        if self.fps is not None and not 0 < self.fps <= 1000:
            raise VideoError(f"target frame rate must be in (0, 1000], got {self.fps}")
        if self.fps is None and self.factor not in (2, 4, 8):
            raise VideoError(f"factor must be 2, 4 or 8, got {self.factor}")
        if self.max_frames is not None and self.max_frames < 2:
            raise VideoError(f"--max-frames must be at least 2 (a pair), got {self.max_frames}")
        if self.encode.crf is not None and self.encode.bitrate is not None:
            raise VideoError("--crf and --bitrate cannot be combined (constant quality or a bitrate, not both)")
        if self.encode.crf is not None and not 0 <= self.encode.crf <= 63:
            raise VideoError(f"--crf must be in [0, 63], got {self.encode.crf}")


# ------------------------------------------------------------------------------------------ timestamps


class Retimer:
    """Output timestamps for each input pair, exactly, from the input PTS.

    ``pair(pts0, pts1)`` returns ``(out_pts, t)`` for every output frame in ``[pts0, pts1)`` with t in
    [0, 1) as a Fraction (t = 0 is a copy of the first frame); ``tail(pts, duration)`` returns the output
    PTS of the frames shown during the last input frame. Output PTS are in :attr:`time_base`.
    """

    def __init__(
        self, mode: str, in_time_base: Fraction, origin_pts: int, factor: int = 2, fps: Fraction | None = None
    ) -> None:
        if mode not in ("factor", "slowmo", "fps"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode == "fps" and fps is None:
            raise ValueError("fps mode needs fps")
        self.mode = mode
        self.in_tb = Fraction(in_time_base)
        self.origin = origin_pts
        self.factor = factor
        self.fps = Fraction(fps) if fps is not None else None
        # fps mode: index of the next output frame, the first multiple of 1/F at or after the first frame.
        self._next = math.ceil(origin_pts * self.in_tb * self.fps) if self.fps is not None else 0

    @property
    def time_base(self) -> Fraction:
        """Time base of the output PTS: 1/F (fps), input/N (factor) or the input's (slow motion)."""
        if self.mode == "fps":
            assert self.fps is not None
            return 1 / self.fps
        return self.in_tb / self.factor if self.mode == "factor" else self.in_tb

    def nominal_rate(self, in_rate: Fraction | None) -> Fraction | None:
        """Output frame rate for an input at ``in_rate`` (the encoder's rate-control hint)."""
        if self.mode == "fps":
            return self.fps
        if in_rate is None:
            return None
        return in_rate * self.factor if self.mode == "factor" else in_rate

    def _stretch(self, pts: int) -> int:
        # factor: N·pts in a time base N× finer (same instant); slowmo: same number in the input time
        # base, shifted so the first frame keeps its timestamp.
        n = self.factor
        return n * pts if self.mode == "factor" else n * pts - (n - 1) * self.origin

    def pair(self, pts0: int, pts1: int) -> list[tuple[int, Fraction]]:
        if pts1 <= pts0:
            raise ValueError(f"timestamps must increase, got {pts0} then {pts1}")
        if self.mode != "fps":
            base, step = self._stretch(pts0), pts1 - pts0
            return [(base + k * step, Fraction(k, self.factor)) for k in range(self.factor)]
        assert self.fps is not None
        t0, t1 = pts0 * self.in_tb, pts1 * self.in_tb
        out = []
        while (when := self._next / self.fps) < t1:
            out.append((self._next, (when - t0) / (t1 - t0)))
            self._next += 1
        return out

    def tail(self, pts: int, duration: int) -> list[int]:
        if self.mode != "fps":
            return [self._stretch(pts)]
        assert self.fps is not None
        end = (pts + max(duration, 0)) * self.in_tb
        out = []
        # Frames shown while the last input frame is on screen; at least the one landing exactly on it.
        while (when := self._next / self.fps) < end or when == pts * self.in_tb:
            out.append(self._next)
            self._next += 1
        return out


# ------------------------------------------------------------------------------------------ input


@dataclass
class VideoInfo:
    """What :func:`probe` learns from the container header."""

    path: Path
    width: int
    height: int
    codec: str
    pix_fmt: str | None
    rate: Fraction | None
    frames: int
    duration: float | None
    audio: str | None


def check_video_output(src: str | Path, dst: str | Path) -> None:
    """Raise VideoError unless ``dst`` has a known container suffix, an existing folder and is not ``src``."""
    src, dst = Path(src), Path(dst)
    if dst.suffix.lower() not in CONTAINERS:
        raise VideoError(f"{dst}: unknown video container {dst.suffix!r} (use one of {', '.join(CONTAINERS)})")
    if not dst.parent.exists():
        raise VideoError(f"{dst}: output folder {dst.parent} does not exist")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise VideoError(f"{dst}: output would overwrite the input")


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoError(f"{path}: file does not exist")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, expected a video file")
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as e:
        raise VideoError(f"{path}: not a video file FFmpeg can read ({e.strerror})") from None


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    # Cover art in MP4/MKV is a "video" stream with the attached_pic disposition: never the clip.
    streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        raise VideoError(f"{path}: no video stream (streams: {kinds})")
    return streams[0]


def probe(path: str | Path) -> VideoInfo:
    """Open ``path``, check it has a video stream and read its header. Raises VideoError."""
    path = Path(path)
    container = _open_input(path)
    try:
        s = _video_stream(container, path)
        cc = s.codec_context
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return VideoInfo(
            path=path,
            width=cc.width,
            height=cc.height,
            codec=cc.name,
            pix_fmt=cc.pix_fmt,
            rate=s.average_rate or s.guessed_rate,
            frames=s.frames,
            duration=float(container.duration) / 1e6 if container.duration else None,
            audio=audio,
        )
    finally:
        container.close()


@dataclass
class _Frame:
    """One decoded input frame: its PTS and duration (input time base), RGB uint8 and its thumbnail."""

    index: int
    pts: int
    duration: int
    rgb: np.ndarray
    thumb: np.ndarray
    _tensor: Tensor | None = None

    def tensor(self) -> Tensor:
        """(1, 3, H, W) float32 in [0, 1], made once and kept while the frame is in the current pair."""
        if self._tensor is None:
            self._tensor = torch.from_numpy(self.rgb).permute(2, 0, 1)[None].float().div_(255.0)
        return self._tensor


def _parse_duration_tag(text: str) -> Fraction | None:
    # Matroska writes each stream's length as a "DURATION" tag: HH:MM:SS.nnnnnnnnn.
    m = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", text.strip())
    if not m:
        return None
    return Fraction(int(m.group(1)) * 3600 + int(m.group(2)) * 60) + Fraction(m.group(3))


class _Source:
    """The opened input: validates it, then yields decoded frames one at a time (streaming)."""

    def __init__(self, path: Path, scene: SceneTest, size: tuple[int, int] | None, keep_audio: bool) -> None:
        self.path = path
        self.container = _open_input(path)
        try:
            self.video = _video_stream(self.container, path)
        except VideoError:
            self.container.close()
            raise
        self.video.thread_type = "AUTO"  # frame threads: decode is a large share of the time at 720p+
        self.audio = self.container.streams.audio[0] if keep_audio and self.container.streams.audio else None
        self.time_base = Fraction(self.video.time_base)
        self.rate: Fraction | None = self.video.average_rate or self.video.guessed_rate
        self.scene = scene
        self.size = size
        self.seconds = 0.0  # time spent demuxing, decoding and converting
        self.decoded = 0
        self.dropped_pts = 0
        self.first: av.VideoFrame | None = None  # kept for its metadata (colour tags, side data)
        self.notes: list[str] = []
        self._last_pts: int | None = None
        self._last_step: int | None = None

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, e: av.error.FFmpegError) -> VideoError:
        return VideoError(
            f"{self.path}: decoding failed after {self.decoded} frames ({e.strerror}): the file is truncated or corrupt"
        )

    def declared_end(self) -> Fraction | None:
        """End time of the video stream according to the container, if it says (for truncation checks)."""
        s = self.video
        if s.duration:
            return (Fraction(s.start_time or 0) + s.duration) * self.time_base
        tag = s.metadata.get("DURATION") or s.metadata.get("duration")
        if tag:
            return _parse_duration_tag(tag)
        return None

    def frames(self, on_audio: Callable[[av.Packet], None], max_frames: int | None) -> Iterator[_Frame]:
        """Decoded frames in presentation order with strictly increasing PTS; audio packets go to ``on_audio``."""
        streams = [self.video] + ([self.audio] if self.audio is not None else [])
        demux = self.container.demux(streams)
        while True:
            start = time.perf_counter()
            try:
                packet = next(demux)
            except StopIteration:
                return
            except av.error.FFmpegError as e:
                raise self._fail(e) from None
            if packet.stream.type == "audio":
                self.seconds += time.perf_counter() - start
                on_audio(packet)
                continue
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as e:
                raise self._fail(e) from None
            for frame in decoded:
                item = self._convert(frame)
                self.seconds += time.perf_counter() - start
                if item is not None:
                    yield item
                    if max_frames is not None and self.decoded >= max_frames:
                        return
                start = time.perf_counter()
            self.seconds += time.perf_counter() - start

    def _convert(self, frame: av.VideoFrame) -> _Frame | None:
        pts = frame.pts
        if pts is None:  # raw streams without timestamps: continue at the nominal rate
            step = self._last_step or (round(1 / (self.rate * self.time_base)) if self.rate else 1)
            pts = 0 if self._last_pts is None else self._last_pts + max(1, step)
        if self._last_pts is not None and pts <= self._last_pts:
            self.dropped_pts += 1  # broken muxes repeat timestamps; a frame cannot be shown twice at once
            return None
        if self._last_pts is not None:
            self._last_step = pts - self._last_pts
        self._last_pts = pts
        if self.first is None:
            self.first = frame
            self._describe_format(frame)
        kwargs: dict[str, Any] = {"format": "rgb24", "dst_color_range": "JPEG"}
        if frame.color_range:
            kwargs["src_color_range"] = frame.color_range
        if frame.colorspace in _SWS_COLORSPACE:
            kwargs["src_colorspace"] = _SWS_COLORSPACE[frame.colorspace]
        if self.size is not None:
            kwargs.update(width=self.size[0], height=self.size[1], interpolation="BICUBIC")
        rgb = frame.to_ndarray(**kwargs)
        item = _Frame(self.decoded, pts, int(frame.duration or 0), rgb, self.scene.thumbnail(frame))
        self.decoded += 1
        return item

    def _describe_format(self, frame: av.VideoFrame) -> None:
        comps = frame.format.components
        bits = max(c.bits for c in comps)
        if bits > 8:
            self.notes.append(f"{bits}-bit input ({frame.format.name}) converted to 8-bit RGB; output is 8-bit")
        if any(c.is_alpha for c in comps):
            self.notes.append(f"alpha channel of {frame.format.name} input dropped (colour kept as is, output opaque)")


# ------------------------------------------------------------------------------------------ output


def _display_matrix(frame: av.VideoFrame) -> list[int] | None:
    """The 3×3 display matrix (rotation + flips) attached to a decoded frame, as 9 int32, if any."""
    kinds = av.sidedata.sidedata.Type
    # PyAV 18.1.1 made the container a mapping that iterates its keys (Type); earlier releases
    # iterated the SideData entries themselves.
    for key in frame.side_data:
        sd = frame.side_data[key] if isinstance(key, kinds) else key
        if sd.type == kinds.DISPLAYMATRIX:
            raw = bytes(sd)
            if len(raw) >= 36:
                return [int(v) for v in np.frombuffer(raw[:36], dtype="<i4")]
    return None


def _audio_encoder_for(container_format: str) -> str:
    # AAC everywhere it is allowed; WebM only takes Opus/Vorbis.
    return "libopus" if container_format == "webm" else "aac"


def _atempo_chain(graph: av.filter.Graph, source: av.filter.context.FilterContext, stretch: int) -> list[Any]:
    """Nodes slowing audio down ×``stretch`` with pitch kept: atempo takes 0.5…100 per instance, so 1/N is
    a chain of 0.5s (N ∈ {2, 4, 8})."""
    return [source] + [graph.add("atempo", "0.5") for _ in range(round(math.log2(stretch)))]


@functools.lru_cache(maxsize=8)
def _atempo_lead(sample_rate: int, stretch: int) -> int:
    """Output samples by which an atempo chain runs *early*, measured once per (rate, stretch).

    atempo's WSOLA starts mid-window, so its output begins a little after the input's start and every
    sound comes out early (≈ 30/70/150 ms for ×2/×4/×8 at 44.1 kHz). Pushing a 10 ms tone burst at
    0.5 s through an identical chain and comparing the energy centroid with N·0.5 s gives the lead,
    which is then added to the stretched audio's start so it stays in sync with the stretched video.
    """
    if stretch == 1:
        return 0
    graph = av.filter.Graph()
    src = graph.add_abuffer(sample_rate=sample_rate, format="flt", layout="mono", time_base=Fraction(1, sample_rate))
    nodes = [*_atempo_chain(graph, src, stretch), graph.add("abuffersink")]
    graph.link_nodes(*nodes).configure()
    t = np.arange(sample_rate) / sample_rate
    burst = (np.exp(-(((t - 0.5) / 0.01) ** 2)) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    out: list[np.ndarray] = []
    chunk = 1024
    for i in range(0, sample_rate + chunk, chunk):
        if i < sample_rate:
            frame = av.AudioFrame.from_ndarray(burst[None, i : i + chunk].copy(), format="flt", layout="mono")
            frame.sample_rate, frame.pts = sample_rate, i
            graph.push(frame)
        else:
            graph.push(None)
        while True:
            try:
                out.append(graph.pull().to_ndarray().reshape(-1))
            except (av.error.BlockingIOError, av.error.EOFError):
                break
    y = np.concatenate(out).astype(np.float64) ** 2
    centroid = float((y * np.arange(y.size)).sum() / max(y.sum(), 1e-12))
    return max(0, round(stretch * 0.5 * sample_rate - centroid))


class _AudioTranscoder:
    """Decode → (atempo ×k) → encode, re-timed: slow-motion stretch, or a codec the output cannot copy.

    ``stretch`` N maps an input sample at time a to v0 + N·(a − v0), v0 the first video frame's time,
    the same map as the video, so picture and sound stay in sync (atempo's start-up lead compensated,
    see :func:`_atempo_lead`).
    """

    def __init__(
        self, out: av.container.OutputContainer, src: av.AudioStream, codec: str, stretch: int, origin: Fraction
    ) -> None:
        cc = src.codec_context
        self.rate = 48000 if codec == "libopus" else cc.sample_rate
        self.stream = out.add_stream(codec, rate=self.rate)
        self.stream.layout = cc.layout
        self.stream.codec_context.bit_rate = 128_000 * min(2, max(1, cc.layout.nb_channels))
        self.stretch = stretch
        self.origin = origin
        self.out = out
        self.graph = av.filter.Graph()
        nodes = _atempo_chain(self.graph, self.graph.add_abuffer(template=src), stretch)
        if self.rate != cc.sample_rate:
            nodes.append(self.graph.add("aresample", str(self.rate)))
        nodes.append(self.graph.add("abuffersink"))
        self.graph.link_nodes(*nodes).configure()
        self.lead = round(_atempo_lead(cc.sample_rate, stretch) * self.rate / cc.sample_rate)
        self.in_rate = cc.sample_rate
        self.next_pts: int | None = None
        self.start_pts = 0  # where the first sample belongs (no lead): the end is counted from here
        self.in_samples = 0
        self.end_pts: int | None = None  # known at flush: start + N × input samples
        self.last: av.AudioFrame | None = None

    def push(self, packet: av.Packet) -> None:
        for frame in packet.decode():
            if self.next_pts is None and frame.pts is not None:
                a0 = frame.pts * Fraction(frame.time_base)
                start = self.origin + self.stretch * (a0 - self.origin)
                self.start_pts = max(0, round(start * self.rate))
                self.next_pts = self.start_pts + self.lead
            self.in_samples += frame.samples
            self.last = frame
            self.graph.push(frame)
            self._drain()

    def flush(self) -> None:
        if self.next_pts is not None and self.last is not None:
            self.end_pts = self.start_pts + round(self.stretch * self.in_samples * self.rate / self.in_rate)
            if self.stretch > 1:
                # atempo drops its last partial windows at EOF: feed silence so the real tail comes out,
                # then cut the output at exactly N × the input length (see _drain).
                pad = self.in_rate // 4
                for _ in range(0, pad * self.stretch, 1024):
                    self.graph.push(_silence(self.last, 1024))
                    self._drain()
            self.graph.push(None)
            self._drain()
        self.out.mux(self.stream.encode(None))

    def _drain(self) -> None:
        while True:
            try:
                frame = self.graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            assert self.next_pts is not None
            if self.end_pts is not None:
                keep = self.end_pts - self.next_pts
                if keep <= 0:
                    continue
                if keep < frame.samples:
                    frame = _head(frame, keep)
            # Re-stamp from the sample count: exact, and independent of what the filter does with PTS.
            frame.pts = self.next_pts
            frame.time_base = Fraction(1, self.rate)
            self.next_pts += frame.samples
            self.out.mux(self.stream.encode(frame))


def _silence(like: av.AudioFrame, samples: int) -> av.AudioFrame:
    """``samples`` of digital silence in ``like``'s format, layout and rate (PTS left for the filter)."""
    frame = av.AudioFrame(format=like.format.name, layout=like.layout, samples=samples)
    frame.sample_rate = like.sample_rate
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    return frame


def _head(frame: av.AudioFrame, samples: int) -> av.AudioFrame:
    """The first ``samples`` of an audio frame."""
    arr = frame.to_ndarray()
    cut = arr[:, :samples] if frame.format.is_planar else arr[:, : samples * len(frame.layout.channels)]
    head = av.AudioFrame.from_ndarray(np.ascontiguousarray(cut), format=frame.format.name, layout=frame.layout)
    head.sample_rate = frame.sample_rate
    return head


class _Sink:
    """The output container: video encoder, audio (copied or transcoded), colour and rotation metadata."""

    def __init__(
        self,
        path: Path,
        source: _Source,
        first: av.VideoFrame,
        frame_wh: tuple[int, int],
        retimer: Retimer,
        enc: EncodeOptions,
        audio_mode: str,
        origin: Fraction,
    ) -> None:
        self.notes: list[str] = []
        self.seconds = 0.0
        self.codec = enc.codec or default_codec(path)
        self.path = path
        fmt = CONTAINERS[path.suffix.lower()]
        self.file = open(path, "w+b")  # closed in finish() or abort()
        try:
            self.out = av.open(self.file, mode="w", format=fmt, container_options=_container_options(fmt))
            self._setup_video(first, frame_wh, retimer, source, enc)
            self.audio_desc = self._setup_audio(source, audio_mode, fmt, retimer.factor, origin)
            self.out.start_encoding()
        except av.error.FFmpegError as e:
            self.abort()
            raise VideoError(f"cannot start the {self.codec} encoder: {e.strerror}") from None
        except BaseException:
            self.abort()
            raise

    def _setup_video(
        self, first: av.VideoFrame, frame_wh: tuple[int, int], retimer: Retimer, source: _Source, enc: EncodeOptions
    ) -> None:
        self.codec = resolve_codec(enc.codec or default_codec(self.path))
        codec = av.Codec(self.codec, "w")
        formats = [f.name for f in codec.video_formats or []]
        self.pix_fmt = "yuv420p" if "yuv420p" in formats or not formats else formats[0]
        W, H = frame_wh
        # 4:2:0 needs even sizes (4:2:2 an even width): pad by repeating the edge instead of cropping pixels.
        fmt = av.VideoFormat(self.pix_fmt)
        sub_w, sub_h = 16 // max(1, fmt.chroma_width(16)), 16 // max(1, fmt.chroma_height(16))
        self.pad = ((-W) % sub_w, (-H) % sub_h)
        if any(self.pad):
            self.notes.append(
                f"odd size {W}x{H} padded to {W + self.pad[0]}x{H + self.pad[1]} for {self.pix_fmt}"
                " (last column/row repeated)"
            )
        options: dict[str, str] = {}
        if enc.bitrate is None:
            crf = enc.crf if enc.crf is not None else DEFAULT_CRF.get(self.codec)
            if crf is not None and self.codec in DEFAULT_CRF:
                options["crf"] = str(crf)
                if self.codec in ("libvpx-vp9", "libaom-av1"):
                    options["b"] = "0"  # constant-quality mode for libvpx/libaom needs bitrate 0
            elif enc.crf is not None:
                self.notes.append(f"--crf ignored: {self.codec} has no constant-quality option here")
        if self.codec == "libx265":
            options["x265-params"] = "log-level=error"  # x265 prints its banner to stderr itself
        if self.codec in PRESET_ENCODERS:
            options["preset"] = enc.preset or ("medium" if self.codec != "libsvtav1" else "8")
        elif enc.preset is not None:
            self.notes.append(f"--preset ignored for {self.codec}")
        rate = retimer.nominal_rate(source.rate)
        try:
            stream = self.out.add_stream(self.codec, rate=rate, options=options)
        except ValueError:  # PyAV: the container format cannot hold this codec
            raise VideoError(
                f"a {self.path.suffix} file cannot hold {self.codec} video (use .mkv or .mov, or another --codec)"
            ) from None
        stream.width, stream.height = W + self.pad[0], H + self.pad[1]
        stream.pix_fmt = self.pix_fmt
        tb = retimer.time_base
        stream.codec_context.time_base = tb
        stream.time_base = tb
        if enc.bitrate is not None:
            stream.codec_context.bit_rate = enc.bitrate
        # Colour: same tags out as in, and the RGB → YUV conversion uses the same matrix and range.
        cc = stream.codec_context
        self.dst_range = first.color_range or None
        if first.color_range:
            cc.color_range = first.color_range
        for attr in ("colorspace", "color_primaries", "color_trc"):
            value = getattr(first, attr)
            if value not in (0, 2):  # 2 = unspecified (0 = RGB/reserved for primaries/trc)
                setattr(cc, attr, value)
        self.dst_colorspace = _SWS_COLORSPACE.get(first.colorspace)
        if source.size is None and source.video.sample_aspect_ratio:
            cc.sample_aspect_ratio = source.video.sample_aspect_ratio
        matrix = _display_matrix(first)
        self.rotation = first.rotation
        if matrix is not None:
            stream.set_display_matrix(matrix)
        else:
            tag = source.video.metadata.get("rotate")  # pre-display-matrix muxers: clockwise degrees
            if tag and tag.lstrip("-").isdigit() and int(tag) % 360:
                stream.set_display_rotation(-int(tag))
                self.rotation = -int(tag)
        self.stream = stream
        self.tb = tb

    def _setup_audio(self, source: _Source, mode: str, fmt: str, factor: int, origin: Fraction) -> str:
        self.audio_copy: av.AudioStream | None = None
        self.audio_tx: _AudioTranscoder | None = None
        if source.audio is None:
            return "none" if not source.container.streams.audio else "dropped"
        name = source.audio.codec_context.name
        if mode == "copy":
            try:
                self.audio_copy = self.out.add_stream_from_template(source.audio)
                return f"copied ({name})"
            except ValueError:  # the container cannot hold this codec: re-encode it instead
                encoder = _audio_encoder_for(fmt)
                self.audio_tx = _AudioTranscoder(self.out, source.audio, encoder, 1, origin)
                self.notes.append(f"{fmt} cannot hold {name} audio: re-encoded to {encoder}")
                return f"re-encoded ({name} → {encoder})"
        encoder = _audio_encoder_for(fmt)
        self.audio_tx = _AudioTranscoder(self.out, source.audio, encoder, factor, origin)
        return f"stretched ×{factor} ({encoder}, pitch kept)"

    def write_audio(self, packet: av.Packet) -> None:
        start = time.perf_counter()
        if self.audio_copy is not None:
            if packet.size and packet.dts is not None:  # skip demux flush packets
                packet.stream = self.audio_copy
                self.out.mux(packet)
        elif self.audio_tx is not None:
            self.audio_tx.push(packet)
        self.seconds += time.perf_counter() - start

    def write(self, rgb: np.ndarray, pts: int) -> None:
        start = time.perf_counter()
        if any(self.pad):
            rgb = np.pad(rgb, ((0, self.pad[1]), (0, self.pad[0]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(
            format=self.pix_fmt,
            src_color_range="JPEG",
            dst_color_range=self.dst_range,
            dst_colorspace=self.dst_colorspace,
        )
        frame.pts = pts
        frame.time_base = self.tb
        self.out.mux(self.stream.encode(frame))
        self.seconds += time.perf_counter() - start

    def finish(self) -> None:
        start = time.perf_counter()
        self.out.mux(self.stream.encode(None))
        if self.audio_tx is not None:
            self.audio_tx.flush()
        self.out.close()
        self.file.close()
        self.seconds += time.perf_counter() - start

    def abort(self) -> None:
        """Close without a trailer: the file object is closed first, which PyAV takes as "skip the trailer"."""
        self.file.close()
        out = getattr(self, "out", None)
        if out is not None:
            try:
                out.close()
            except Exception:  # the temp file is deleted anyway; the first error is what counts
                pass


def _container_options(fmt: str) -> dict[str, str]:
    # MP4/MOV: index at the front, so phones and browsers start playing before the whole file arrives.
    return {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}


# ------------------------------------------------------------------------------------------ pipeline


def _progress(total: int | None, enabled: bool | None) -> Any:
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, unit="frame", disable=not enabled, dynamic_ncols=True, smoothing=0.1, leave=False)


def _estimate_frames(source: _Source, max_frames: int | None) -> int | None:
    n = source.video.frames or None
    if n is None and source.container.duration and source.rate:
        n = int(source.container.duration / 1e6 * source.rate)
    if max_frames is not None:
        n = min(n, max_frames) if n else max_frames
    return n


def interpolate_video(
    src: str | Path,
    dst: str | Path,
    runner: Runner,
    options: VideoOptions | None = None,
    model_name: str = "",
) -> dict[str, Any]:
    """Interpolate the video ``src`` into ``dst`` through ``runner``; return the summary dict.

    ``dst`` must have a known container suffix (.mp4, .mov, .mkv, .webm, .avi); its folder must exist and
    the caller decides about overwriting (see :func:`edgevfi.io.check_output_path`). Raises VideoError for
    bad input; ``dst`` is then left untouched and no temp file remains (also on KeyboardInterrupt).
    """
    options = options or VideoOptions()
    options.validate()
    src, dst = Path(src), Path(dst)
    check_video_output(src, dst)
    resolve_codec(options.encode.codec or default_codec(dst))  # fail before decoding anything
    started = time.perf_counter()
    mode = options.mode
    keep_audio = options.audio == "copy" and not (mode == "slowmo" and options.slowmo_audio == "drop")
    counts = {"synthesized": 0, "copied": 0, "repeated": 0, "cuts": 0, "duplicates": 0, "out": 0}
    model_seconds = 0.0
    with _Source(src, options.scene, options.size, keep_audio) as source:
        pending: list[av.Packet] = []
        sink: _Sink | None = None

        def on_audio(packet: av.Packet) -> None:
            # Audio demuxed before the output exists (while the first pair decodes) waits here.
            if sink is None:
                pending.append(packet)
            else:
                sink.write_audio(packet)

        frames = source.frames(on_audio, options.max_frames)
        f0, f1 = next(frames, None), next(frames, None)
        if f0 is None:
            raise VideoError(f"{src}: the video stream has no decodable frames")
        if f1 is None:
            raise VideoError(f"{src}: only 1 frame: nothing to interpolate between (need at least 2)")
        assert source.first is not None
        retimer = Retimer(mode, source.time_base, f0.pts, options.factor, options.fps)
        H, W = f0.rgb.shape[:2]
        origin = f0.pts * source.time_base
        total = _estimate_frames(source, options.max_frames)
        if total is not None and mode != "fps":
            total = (total - 1) * options.factor + 1
        elif total is not None:
            total = int(total * options.fps / source.rate) if source.rate else None
        out_pts_first: int | None = None
        out_pts_last = 0
        with atomic_output(dst) as tmp:
            audio_mode = "copy" if mode != "slowmo" else "stretch"
            sink = _Sink(tmp, source, source.first, (W, H), retimer, options.encode, audio_mode, origin)
            bar = _progress(total, options.progress)
            try:
                for packet in pending:
                    sink.write_audio(packet)
                pending.clear()

                def emit(rgb: np.ndarray, pts: int) -> None:
                    nonlocal out_pts_first, out_pts_last
                    sink.write(rgb, pts)
                    out_pts_first = pts if out_pts_first is None else out_pts_first
                    out_pts_last = pts
                    counts["out"] += 1
                    bar.update(1)

                while f1 is not None:
                    kind: str | None = None
                    pair: PairMotion | None = None
                    for out_pts, t in retimer.pair(f0.pts, f1.pts):
                        if t == 0:
                            counts["copied"] += 1
                            emit(f0.rgb, out_pts)
                            continue
                        if kind is None:
                            kind = options.scene.classify(f0.thumb, f1.thumb)
                            counts["cuts"] += kind == PairKind.CUT
                            counts["duplicates"] += kind == PairKind.DUPLICATE
                        if kind != PairKind.MOTION:
                            # Never blend across a cut: repeat the nearer frame (also the cheap path for
                            # duplicates, where both are the same picture).
                            counts["repeated"] += 1
                            emit(f0.rgb if t < Fraction(1, 2) else f1.rgb, out_pts)
                            continue
                        tick = time.perf_counter()
                        if pair is None:
                            pair = runner.prepare(f0.tensor(), f1.tensor())
                        rgb = to_uint8(runner.synthesize(pair, float(t)))
                        model_seconds += time.perf_counter() - tick
                        counts["synthesized"] += 1
                        emit(rgb, out_pts)
                    pair = None  # drop the finished pair's motion before decoding the next frame
                    f0, f1 = f1, next(frames, None)
                last_duration = f0.duration or (source._last_step or 0)
                for out_pts in retimer.tail(f0.pts, last_duration):
                    counts["copied"] += 1
                    emit(f0.rgb, out_pts)
                _check_complete(source, f0, last_duration, options.max_frames)
                sink.finish()
            except BaseException:
                sink.abort()
                raise
            finally:
                bar.close()
    seconds = time.perf_counter() - started
    tb_in, tb_out = source.time_base, retimer.time_base
    fps_in = _measured_rate(source.decoded, f0.pts * tb_in - origin) or source.rate
    span_out = (out_pts_last - (out_pts_first or 0)) * tb_out
    fps_out = _measured_rate(counts["out"], span_out) or retimer.nominal_rate(source.rate)
    notes = source.notes + sink.notes
    if source.dropped_pts:
        notes.append(f"{source.dropped_pts} input frames with repeated or backwards timestamps skipped")
    if options.size is not None and options.size != (source.video.width, source.video.height):
        notes.append(f"frames rescaled from {source.video.width}x{source.video.height} to {W}x{H}")
    return {
        "input": str(src),
        "output": str(dst),
        "mode": mode,
        "factor": options.factor if mode != "fps" else None,
        "model": model_name,
        "frames_in": source.decoded,
        "frames_out": counts["out"],
        "synthesized": counts["synthesized"],
        "copied": counts["copied"],
        "repeated": counts["repeated"],
        "cuts": counts["cuts"],
        "duplicates": counts["duplicates"],
        "fps_in": round(float(fps_in), 4) if fps_in else None,
        "fps_out": round(float(fps_out), 4) if fps_out else None,
        "size": [W, H],
        "output_size": [W + sink.pad[0], H + sink.pad[1]],
        "codec": sink.codec,
        "pix_fmt": sink.pix_fmt,
        "audio": sink.audio_desc,
        "rotation": sink.rotation,
        "color_range": {0: "unspecified", 1: "limited", 2: "full"}.get(int(source.first.color_range), "?"),
        "seconds": round(seconds, 3),
        "seconds_decode": round(source.seconds, 3),
        "seconds_model": round(model_seconds, 3),
        "seconds_encode": round(sink.seconds, 3),
        "notes": notes,
    }


def _measured_rate(frames: int, span: Fraction) -> Fraction | None:
    # Frames per second over the span between the first and last frame (VFR-honest average).
    return Fraction(frames - 1) / span if frames > 1 and span > 0 else None


def _check_complete(source: _Source, last: _Frame, last_duration: int, max_frames: int | None) -> None:
    """A demuxer may just stop at a truncated file (Matroska does): compare with the declared length."""
    if max_frames is not None and source.decoded >= max_frames:
        return
    declared = source.declared_end()
    if declared is None:
        return
    step = Fraction(last_duration or 1) * source.time_base
    reached = (last.pts + last_duration) * source.time_base
    # Slack of two frames and 50 ms: edit lists and rounding make the ends differ a little in good files.
    if reached + 2 * step + Fraction(1, 20) < declared:
        raise VideoError(
            f"{source.path}: the video stops at {float(reached):.2f} s of the {float(declared):.2f} s the"
            " container declares: the file is truncated or corrupt"
        )
