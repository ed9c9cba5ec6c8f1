"""The video pipeline on tiny generated clips: timestamps, audio, cuts, metadata, and every bad input.

Clips are 64×48 (or smaller) and at most a few dozen frames, written with PyAV; the model is ``blend``
(or a tiny checkpoint for the CLI run), so the whole file stays well under a minute on two busy cores.
``blend`` always ghosts when it runs, which makes it the strictest model for the scene-cut test.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import moving_pair, tiny_model

from edgevfi import models
from edgevfi.checkpoint import save_checkpoint
from edgevfi.io import to_uint8
from edgevfi.runtime import EagerBackend, Runner
from edgevfi.video import (
    EncodeOptions,
    PairKind,
    Retimer,
    SceneTest,
    VideoError,
    VideoOptions,
    interpolate_video,
    parse_fps,
)

W, H = 64, 48


# ----------------------------------------------------------------------------------------- helpers


def textured_frames(n: int, w: int = W, h: int = H) -> list[np.ndarray]:
    """``n`` frames of one smooth texture moving 2 px right per frame (real motion, no cuts)."""
    a, _ = moving_pair(h, w + 2 * n, dx=0, dy=0)
    strip = to_uint8(a)
    return [np.ascontiguousarray(strip[:, 2 * i : 2 * i + w]) for i in range(n)]


def write_clip(
    path: Path,
    frames: list[np.ndarray],
    *,
    rate: int = 30,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    rotation: int | None = None,
    full_range: bool = False,
    faststart: bool = False,
) -> Path:
    """Encode RGB(A) uint8 frames (and optionally mono AAC audio of the same length with a tone burst)."""
    if audio:
        return _write_with_audio(path, frames, rate=rate, pts=pts, time_base=time_base)
    fmt = {".mkv": "matroska", ".mov": "mov", ".mp4": "mp4"}[path.suffix]
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, container_options=opts) as out:
        v = out.add_stream(codec, rate=rate, options={"preset": "ultrafast"} if codec == "libx264" else {})
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = pix_fmt
        tb = time_base or Fraction(1, rate)
        v.codec_context.time_base = tb
        if rotation:
            v.set_display_rotation(rotation)
        if full_range:
            v.codec_context.color_range = 2
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(arr, format="rgba" if arr.shape[2] == 4 else "rgb24")
            frame = frame.reformat(format=pix_fmt, dst_color_range="JPEG" if full_range else None)
            frame.pts, frame.time_base = (pts[i] if pts else i), tb
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def _write_with_audio(
    path: Path, frames: list[np.ndarray], *, rate: int, pts: list[int] | None, time_base: Fraction | None
) -> Path:
    tb = time_base or Fraction(1, rate)
    end = (pts[-1] + (pts[-1] - pts[-2]) if pts else len(frames)) * tb
    sr = 44100
    n = int(end * sr)
    t = np.arange(n) / sr  # a 1 kHz burst in the middle: its position shows audio timing
    tone = (0.5 * np.exp(-(((t - float(end) / 2) / 0.01) ** 2)) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    tone = tone[None]
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = "yuv420p"
        v.codec_context.time_base = tb
        a = out.add_stream("aac", rate=sr)
        a.layout = "mono"
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts, frame.time_base = (pts[i] if pts else i), tb
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        af = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        af.sample_rate, af.pts = sr, 0
        out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


def read_video(path: Path) -> dict:
    """Timestamps (as exact seconds), frames, rotation and colour range of a file's video stream."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = Fraction(s.time_base)
        frames = list(c.decode(s))
        info = {
            "times": [f.pts * tb for f in frames],
            "rgb": [f.to_ndarray(format="rgb24") for f in frames],
            "rotation": frames[0].rotation,
            "color_range": frames[0].color_range,
            "size": (frames[0].width, frames[0].height),
            "duration": float(s.duration * tb) if s.duration else None,
            "audio": [],
        }
    with av.open(str(path)) as c:  # reopened: the video pass above has read the file to its end
        for a in c.streams.audio:  # codec, start, end and the energy centroid (s) of the decoded samples
            decoded = list(c.decode(a))
            t0 = decoded[0].pts * Fraction(a.time_base)
            sr = decoded[0].sample_rate
            pcm = np.concatenate([f.to_ndarray().reshape(f.samples, -1).mean(1) for f in decoded]).astype(np.float64)
            energy = pcm**2
            centroid = float(t0) + float((energy * np.arange(pcm.size)).sum() / energy.sum()) / sr
            info["audio"].append((a.codec_context.name, float(t0), float(t0) + pcm.size / sr, centroid))
    return info


def blend_runner() -> Runner:
    return Runner(EagerBackend(models.create("blend")))


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgevfi", *args], capture_output=True, text=True, timeout=timeout)


def assert_clean_failure(proc: subprocess.CompletedProcess, out: Path, needle: str) -> None:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    if out.parent.exists():
        assert not out.exists()
        assert not list(out.parent.glob(f".{out.stem}.*")), "temp file left behind"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    write_clip(d / "moving.mp4", textured_frames(8))
    write_clip(d / "audio.mp4", textured_frames(9), audio=True)
    # VFR: irregular millisecond timestamps (a phone's camera under changing light does this).
    vfr_pts = [0, 33, 66, 133, 150, 250, 283, 400]
    write_clip(d / "vfr.mkv", textured_frames(8), pts=vfr_pts, time_base=Fraction(1, 1000))
    # A hard cut: four black frames, then four white ones.
    black, white = np.zeros((H, W, 3), np.uint8), np.full((H, W, 3), 255, np.uint8)
    write_clip(d / "cut.mp4", [black] * 4 + [white] * 4)
    write_clip(d / "static.mp4", [textured_frames(1)[0]] * 5)
    gray = [np.full((H, W, 3), v, np.uint8) for v in (60, 80, 100, 120)]
    write_clip(d / "rotated.mp4", gray, rotation=90, full_range=True)
    # Bad and awkward inputs.
    write_clip(d / "one.mp4", textured_frames(1))
    write_clip(d / "tiny.mp4", textured_frames(4, 16, 16))
    write_clip(d / "odd.mov", textured_frames(4, 33, 25), codec="png", pix_fmt="rgb24")
    write_clip(d / "deep.mp4", textured_frames(4), pix_fmt="yuv420p10le")
    rgba = [np.dstack([f, np.full((H, W), 128, np.uint8)]) for f in textured_frames(4)]
    write_clip(d / "alpha.mov", rgba, codec="png", pix_fmt="rgba")
    write_clip(d / "long.mp4", textured_frames(300))  # long enough to interrupt mid-run even when the CPU is busy
    (d / "notvideo.mp4").write_text("this is not a video\n")
    with av.open(str(d / "audioonly.m4a"), "w") as out:
        a = out.add_stream("aac", rate=44100)
        a.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 4410), np.float32), format="flt", layout="mono")
        af.sample_rate, af.pts = 44100, 0
        out.mux(a.encode(af))
        out.mux(a.encode(None))
    # Truncated: an MP4 with its index in front, cut at 60 % (decode error or early end), and a
    # Matroska file cut the same way (the demuxer just stops: caught by the declared-length check).
    noisy = [np.random.default_rng(i).integers(0, 255, (H, W, 3), dtype=np.uint8) for i in range(24)]
    for name, faststart in (("full.mp4", True), ("full.mkv", False)):
        write_clip(d / name, noisy, faststart=faststart)
        data = (d / name).read_bytes()
        (d / f"trunc{Path(name).suffix}").write_bytes(data[: len(data) * 6 // 10])
    # Corrupt: 2000 random bytes in the middle of the MP4's sample data (the decoder fails mid-stream).
    data = bytearray((d / "full.mp4").read_bytes())
    mid = len(data) // 2
    data[mid : mid + 2000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (d / "corrupt.mp4").write_bytes(bytes(data))
    save_checkpoint(tiny_model("apr-s"), d / "tiny.safetensors")
    return d


# ----------------------------------------------------------------------------------------- pure parts


def test_retimer_factor_and_slowmo_are_exact():
    tb = Fraction(1, 90000)
    r = Retimer("factor", tb, origin_pts=3000, factor=4)
    assert r.time_base == tb / 4
    assert r.pair(3000, 6000) == [(12000, 0), (15000, Fraction(1, 4)), (18000, Fraction(1, 2)), (21000, Fraction(3, 4))]
    assert r.tail(6000, 3000) == [24000]
    s = Retimer("slowmo", tb, origin_pts=3000, factor=4)
    assert s.time_base == tb
    # The first frame keeps its time; everything after is stretched ×4.
    assert [p for p, _ in s.pair(3000, 6000)] == [3000, 6000, 9000, 12000]
    assert s.tail(6000, 3000) == [15000]


def test_retimer_fps_lands_on_multiples_of_one_over_f():
    tb = Fraction(1, 1000)
    r = Retimer("fps", tb, origin_pts=10, fps=Fraction(50))  # first frame at 10 ms: first output at 20 ms
    out = r.pair(10, 43) + r.pair(43, 100)
    assert [p for p, _ in out] == [1, 2, 3, 4]
    assert [t for _, t in out] == [Fraction(10, 33), Fraction(30, 33), Fraction(17, 57), Fraction(37, 57)]
    assert r.tail(100, 30) == [5, 6]  # 100 ms and 120 ms are shown while the last frame is on screen
    # An output instant that coincides with an input frame gets t = 0: a copy, no synthesis.
    r2 = Retimer("fps", tb, origin_pts=0, fps=Fraction(25))
    assert r2.pair(0, 40) == [(0, 0)]


def test_parse_fps_maps_ntsc_decimals():
    assert parse_fps("29.97") == Fraction(30000, 1001)
    assert parse_fps("60000/1001") == Fraction(60000, 1001)
    assert parse_fps("25") == 25
    for bad in ("0", "-3", "abc", "2000"):
        with pytest.raises(ValueError):
            parse_fps(bad)


def test_scene_test_separates_cut_motion_duplicate():
    scene = SceneTest()
    a, b = (to_uint8(x) for x in moving_pair(48, 64, dx=6, dy=0))
    thumbs = []
    for arr in (a, b, np.zeros_like(a), np.full_like(a, 255)):
        thumbs.append(scene.thumbnail(av.VideoFrame.from_ndarray(arr, format="rgb24")))
    ta, tb, black, white = thumbs
    assert scene.classify(ta, tb) == PairKind.MOTION
    assert scene.classify(ta, ta.copy()) == PairKind.DUPLICATE
    assert scene.classify(black, white) == PairKind.CUT
    assert scene.classify(ta, white) == PairKind.CUT


def test_4k_frame_costs_a_thumbnail_not_a_full_frame_pass():
    # The per-pair test is on a ≤ 96 px thumbnail made by FFmpeg's area scaler, so a 3840×2160 frame
    # costs one linear downscale; nothing in the pipeline is quadratic (the Runner tiles the model).
    frame = av.VideoFrame(3840, 2160, "yuv420p")
    for plane in frame.planes:
        np.frombuffer(plane, np.uint8)  # allocated; content irrelevant
    scene = SceneTest()
    start = time.perf_counter()
    thumb = scene.thumbnail(frame)
    scene.classify(thumb, thumb)
    assert thumb.shape == (54, 96)
    assert time.perf_counter() - start < 2.0


# ----------------------------------------------------------------------------------------- modes


@pytest.mark.parametrize("factor", [2, 4])
def test_factor_counts_and_timestamps(clips, tmp_path, factor):
    out = tmp_path / f"x{factor}.mp4"
    summary = interpolate_video(clips / "moving.mp4", out, blend_runner(), VideoOptions(factor=factor))
    info = read_video(out)
    n = 8
    assert summary["frames_in"] == n and summary["frames_out"] == (n - 1) * factor + 1
    assert len(info["times"]) == (n - 1) * factor + 1
    assert info["times"] == [Fraction(i, 30 * factor) for i in range((n - 1) * factor + 1)]
    assert summary["fps_out"] == pytest.approx(30 * factor)
    assert summary["synthesized"] == (n - 1) * (factor - 1) and summary["cuts"] == 0


def test_fps_target_rate_exact_multiples(clips, tmp_path):
    out = tmp_path / "fps50.mp4"
    summary = interpolate_video(clips / "moving.mp4", out, blend_runner(), VideoOptions(fps=Fraction(50)))
    times = read_video(out)["times"]
    # 8 frames at 30 fps show for 8/30 s; 50 fps over that span: 0, 0.02, …, 0.26 → 14 frames.
    assert times == [Fraction(j, 50) for j in range(14)]
    assert summary["frames_out"] == 14
    # Copies: the instants that coincide with input frames (0, 0.1, 0.2 s) and the two (0.24, 0.26 s)
    # shown while the last input frame is on screen; the other 9 are synthesized at their true t.
    assert summary["copied"] == 5 and summary["synthesized"] == 9


def test_slowmo_keeps_rate_stretches_time_and_audio(clips, tmp_path):
    out = tmp_path / "slow.mp4"
    options = VideoOptions(factor=4, slowmo=True, slowmo_audio="stretch")
    summary = interpolate_video(clips / "audio.mp4", out, blend_runner(), options)
    info = read_video(out)
    n = 9
    assert len(info["times"]) == (n - 1) * 4 + 1
    assert info["times"] == [Fraction(i, 30) for i in range((n - 1) * 4 + 1)]  # 30 fps, 4× as long
    assert summary["fps_out"] == pytest.approx(30)
    ((codec, _, end, centroid),) = info["audio"]
    # Stretched with atempo (pitch kept) and re-timed: the burst in the middle of the input (0.15 s)
    # is heard 4× later (0.6 s), in sync with the stretched picture; the audio lasts 4× as long.
    (_, _, _, src_centroid) = read_video(clips / "audio.mp4")["audio"][0]
    assert codec == "aac" and centroid == pytest.approx(4 * src_centroid, abs=1 / 60)
    assert end == pytest.approx(4 * n / 30, abs=2 / 30)
    # Default slow-motion audio: dropped.
    out2 = tmp_path / "slow_mute.mp4"
    interpolate_video(clips / "audio.mp4", out2, blend_runner(), VideoOptions(factor=2, slowmo=True))
    assert read_video(out2)["audio"] == []


def test_audio_passes_through_unchanged(clips, tmp_path):
    out = tmp_path / "audio_x2.mp4"
    summary = interpolate_video(clips / "audio.mp4", out, blend_runner(), VideoOptions(factor=2))
    src, dst = read_video(clips / "audio.mp4"), read_video(out)
    assert summary["audio"] == "copied (aac)"
    assert dst["audio"] == src["audio"]  # same codec, same duration (packets remuxed untouched)
    # Video keeps the length of the input within one input frame.
    assert dst["duration"] == pytest.approx(src["duration"], abs=1 / 30 + 1e-6)
    with av.open(str(clips / "audio.mp4")) as a, av.open(str(out)) as b:
        pa = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        pb = [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    assert pa == pb


def test_vfr_input_keeps_monotonic_correctly_spaced_pts(clips, tmp_path):
    out = tmp_path / "vfr_x2.mp4"
    interpolate_video(clips / "vfr.mkv", out, blend_runner(), VideoOptions(factor=2))
    times = read_video(out)["times"]
    src = [Fraction(p, 1000) for p in (0, 33, 66, 133, 150, 250, 283, 400)]
    expected = [x for a, b in itertools.pairwise(src) for x in (a, (a + b) / 2)] + [src[-1]]
    assert times == expected
    assert all(b > a for a, b in itertools.pairwise(times))


def test_hard_cut_is_not_blended(clips, tmp_path):
    out = tmp_path / "cut_x4.mp4"
    summary = interpolate_video(clips / "cut.mp4", out, blend_runner(), VideoOptions(factor=4))
    # One cut (black → white); the all-black and all-white pairs are duplicates: the model never runs.
    assert summary["cuts"] == 1 and summary["duplicates"] == 6 and summary["synthesized"] == 0
    means = [float(f.mean()) for f in read_video(out)["rgb"]]
    # blend would give gray (~64, 128, 191) at the cut; every frame is black or white instead.
    assert all(m < 8 or m > 247 for m in means), means
    # t = 1/4 repeats the black frame, t = 1/2 and 3/4 the white one (the nearer input).
    assert [m > 128 for m in means[12:17]] == [False, False, True, True, True]


def test_duplicates_skip_the_model(clips, tmp_path):
    out = tmp_path / "static_x2.mp4"
    summary = interpolate_video(clips / "static.mp4", out, blend_runner(), VideoOptions(factor=2))
    assert summary["duplicates"] == 4 and summary["synthesized"] == 0 and summary["frames_out"] == 9


def test_rotation_and_colour_range_preserved(clips, tmp_path):
    out = tmp_path / "rot.mp4"
    summary = interpolate_video(clips / "rotated.mp4", out, blend_runner(), VideoOptions(factor=2))
    info = read_video(out)
    assert info["rotation"] == 90 and summary["rotation"] == 90
    assert info["color_range"] == 2 and summary["color_range"] == "full"
    # Full-range levels survive the round trip (reading full-range data as limited would move ~60 to ~51).
    src = read_video(clips / "rotated.mp4")["rgb"]
    assert float(info["rgb"][0].mean()) == pytest.approx(float(src[0].mean()), abs=1.5)
    mid = (float(src[0].mean()) + float(src[1].mean())) / 2  # blend of the first two frames
    assert float(info["rgb"][1].mean()) == pytest.approx(mid, abs=1.5)


def test_progress_bar_when_asked(clips, tmp_path, capsys):
    interpolate_video(clips / "moving.mp4", tmp_path / "bar.mp4", blend_runner(), VideoOptions(progress=True))
    err = capsys.readouterr().err
    assert "frame/s" in err and "/15" in err  # rate and the known total (hence an ETA)


def test_codec_and_size_options(clips, tmp_path):
    out = tmp_path / "small.mkv"
    options = VideoOptions(factor=2, size=(32, 24), max_frames=3, encode=EncodeOptions(codec="h264", crf=30))
    summary = interpolate_video(clips / "moving.mp4", out, blend_runner(), options)
    assert summary["frames_in"] == 3 and summary["frames_out"] == 5
    assert read_video(out)["size"] == (32, 24)
    with pytest.raises(VideoError, match="no video encoder"):
        interpolate_video(
            clips / "moving.mp4",
            tmp_path / "bad.mp4",
            blend_runner(),
            VideoOptions(encode=EncodeOptions(codec="nope")),
        )


# ----------------------------------------------------------------------------------------- awkward input


@pytest.mark.parametrize(
    ("clip", "size", "note"),
    [
        ("odd.mov", (34, 26), "padded"),
        ("tiny.mp4", (16, 16), None),
        ("deep.mp4", (W, H), "10-bit"),
        ("alpha.mov", (W, H), "alpha"),
    ],
)
def test_converted_inputs(clips, tmp_path, clip, size, note):
    out = tmp_path / f"{Path(clip).stem}_out.mp4"
    summary = interpolate_video(clips / clip, out, blend_runner(), VideoOptions(factor=2))
    info = read_video(out)
    assert info["size"] == size and len(info["times"]) == 7
    if note:
        assert any(note in n for n in summary["notes"]), summary["notes"]
    else:
        assert summary["notes"] == []


# ----------------------------------------------------------------------------------------- CLI


def test_cli_video_with_checkpoint_and_json(clips, tmp_path):
    # A real (tiny) model through the CLI; 3 frames and a 128 px tile keep it to a few seconds.
    out, summary_path = tmp_path / "cli.mp4", tmp_path / "summary.json"
    proc = run_cli(
        "interpolate",
        str(clips / "audio.mp4"),
        "-o",
        str(out),
        "--checkpoint",
        str(clips / "tiny.safetensors"),
        "--tile",
        "128",
        "--factor",
        "4",
        "--max-frames",
        "3",
        "--json",
        str(summary_path),
        "--preset",
        "ultrafast",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar in a pipe
    assert "wrote" in proc.stdout
    summary = json.loads(summary_path.read_text())
    assert summary["frames_in"] == 3 and summary["frames_out"] == 9 and summary["synthesized"] == 6
    assert summary["audio"] == "copied (aac)" and summary["model"].endswith("tiny.safetensors")
    for key in ("cuts", "duplicates", "seconds", "fps_in", "fps_out", "seconds_decode", "seconds_model"):
        assert key in summary
    info = read_video(out)
    assert info["times"] == [Fraction(i, 120) for i in range(9)]
    assert info["audio"]  # kept (cut where the video stops: the packets demuxed up to frame 3)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing", "does not exist"),
        ("notvideo", "not a video"),
        ("truncated_mp4", "truncated"),
        ("truncated_mkv", "truncated"),
        ("corrupt_mp4", "corrupt"),
        ("one_frame", "only 1 frame"),
        ("no_video_stream", "no video stream"),
        ("nofolder", "does not exist"),
        ("exists", "already exists"),
        ("fps_and_slowmo", "cannot be combined"),
        ("bad_container", "unknown video container"),
        ("one_image", "two images"),
    ],
)
def test_bad_input(clips, tmp_path, case, needle):
    src = clips / "moving.mp4"
    out = tmp_path / f"out_{case}.mp4"
    extra: list[str] = []
    if case == "missing":
        src = clips / "nope.mp4"
    elif case == "notvideo":
        src = clips / "notvideo.mp4"
    elif case == "truncated_mp4":
        src = clips / "trunc.mp4"
    elif case == "truncated_mkv":
        src = clips / "trunc.mkv"
    elif case == "corrupt_mp4":
        src = clips / "corrupt.mp4"
    elif case == "one_frame":
        src = clips / "one.mp4"
    elif case == "no_video_stream":
        src = clips / "audioonly.m4a"
    elif case == "nofolder":
        out = tmp_path / "missing_dir" / "out.mp4"
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "fps_and_slowmo":
        extra = ["--fps", "60", "--slowmo"]
    elif case == "bad_container":
        out = tmp_path / "out.xyz"
    elif case == "one_image":
        src = tmp_path / "a.png"
        from PIL import Image

        Image.fromarray(textured_frames(1)[0]).save(src)
    proc = run_cli("interpolate", str(src), "-o", str(out), "--model", "blend", *extra)
    if case == "exists":
        assert proc.returncode != 0 and needle in proc.stderr
        assert out.read_bytes() == b"keep me"
        return
    assert_clean_failure(proc, out, needle)


SLOW = ("--model", "blend", "--factor", "8")


def test_ctrl_c_removes_temp_file(clips, tmp_path):
    out = tmp_path / "interrupted.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgevfi", "interpolate", str(clips / "long.mp4"), "-o", str(out), *SLOW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test runner started in the background inherits SIGINT ignored, and Python then never
        # raises KeyboardInterrupt: restore the default so Ctrl-C reaches the CLI as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".interrupted.*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "finished before it could be interrupted"
    time.sleep(0.05)  # mid-run: frames are being encoded into the temp file
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["edgevfi: interrupted"]
    assert not out.exists()
    assert not list(tmp_path.glob(".interrupted.*"))
