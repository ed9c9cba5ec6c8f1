"""Triplet folders and the video triplet sampler, on tiny generated data (no shared data needed)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgevfi.data import video as V
from edgevfi.data.triplets import DataError, TripletFolder, find_triplets, load_image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


# ----------------------------------------------------------------------------- helpers


def save_png(path: Path, arr: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path) if mode else Image.fromarray(arr).save(path)


def make_triplet(folder: Path, h: int = 8, w: int = 10, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(3)]
    for i, f in enumerate(frames, 1):
        save_png(folder / f"im{i}.png", f)
    return frames


def square_frames(n: int = 24, cut: int = 12, size: int = 64) -> list[np.ndarray]:
    """A textured square moving 2 px/frame; at ``cut`` the scene changes (background and path)."""
    yy, xx = np.mgrid[0:size, 0:size]
    frames = []
    for f in range(n):
        if f < cut:
            bg = 40 + 20 * np.sin(xx / 5.0) + 10 * np.cos(yy / 7.0)
            x0, y0 = 4 + 2 * f, 20
        else:
            bg = 200 + 20 * np.cos(xx / 4.0) - 10 * np.sin(yy / 6.0)
            x0, y0 = 20, 4 + 2 * (f - cut)
        img = np.repeat(bg[..., None], 3, -1)
        img[y0 : y0 + 16, x0 : x0 + 16] = [230, 60 + 4 * f, 30]
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def write_mp4(path: Path, frames: list[np.ndarray], fps: int = 24) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps, options={"crf": "0"})  # lossless-ish: cut stays crisp
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv444p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vid") / "clips" / "toy__square.mp4"
    write_mp4(path, square_frames())
    return path


@pytest.fixture(scope="module")
def cut_clip(cut_video: Path, tmp_path_factory: pytest.TempPathFactory) -> V.CachedClip:
    cache = tmp_path_factory.mktemp("cache")
    return V.load_clip(V.ClipSpec(cut_video, repo="toy"), cache_dir=cache)


def dataset(clip: V.CachedClip, **kw) -> V.VideoTripletDataset:
    args = dict(crop=32, strides=(1, 3), p_hflip=0, p_vflip=0, p_reverse=0, color_jitter=0, static_mad=0)
    args.update(kw)
    return V.VideoTripletDataset([clip], return_meta=True, **args)


# ----------------------------------------------------------------------------- triplet folders


def test_find_triplets_nested_and_sorted(tmp_path: Path) -> None:
    make_triplet(tmp_path / "b" / "0002")
    make_triplet(tmp_path / "a" / "0001")
    make_triplet(tmp_path / "a" / "deep" / "x")
    (tmp_path / "notes").mkdir()
    found = find_triplets(tmp_path)
    assert found == [tmp_path / "a" / "0001", tmp_path / "a" / "deep" / "x", tmp_path / "b" / "0002"]


def test_triplet_folder_items(tmp_path: Path) -> None:
    frames = make_triplet(tmp_path / "s" / "1")
    item = TripletFolder(tmp_path)[0]
    assert item["img0"].shape == (3, 8, 10) and item["img0"].dtype == torch.float32
    assert float(item["t"]) == 0.5 and item["path"] == str(tmp_path / "s" / "1")
    for key, f in (("img0", frames[0]), ("gt", frames[1]), ("img1", frames[2])):
        assert torch.allclose(item[key], torch.from_numpy(f).permute(2, 0, 1).float() / 255)


def test_triplet_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        find_triplets(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=re.escape(str(empty))):
        find_triplets(empty)
    bad = tmp_path / "gap" / "seq"
    make_triplet(bad)
    (bad / "im2.png").unlink()
    with pytest.raises(DataError, match=re.escape(str(bad)) + r".*missing im2\.png"):
        find_triplets(tmp_path / "gap")
    odd = tmp_path / "sizes" / "seq"
    make_triplet(odd)
    save_png(odd / "im2.png", np.zeros((9, 10, 3), np.uint8))
    with pytest.raises(DataError, match=re.escape(f"{odd}: frames differ in size")):
        TripletFolder(tmp_path / "sizes")[0]


def test_load_image_modes(tmp_path: Path) -> None:
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    save_png(tmp_path / "g.png", grey)
    x = load_image(tmp_path / "g.png")
    assert x.shape == (3, 6, 8) and torch.equal(x[0], x[2])
    assert torch.allclose(x[1], torch.from_numpy(grey).float() / 255)
    # Palette and opaque RGBA load; alpha is dropped.
    Image.fromarray(grey).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (3, 6, 8)
    rgba = np.full((6, 8, 4), 255, np.uint8)
    save_png(tmp_path / "opaque.png", rgba)
    assert torch.all(load_image(tmp_path / "opaque.png") == 1.0)
    # 16-bit greyscale is scaled by 1/65535.
    g16 = (np.arange(48).reshape(6, 8) * 1365).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    assert torch.allclose(load_image(tmp_path / "g16.png")[0].double(), torch.from_numpy(g16 / 65535.0), atol=1e-6)


def test_load_image_errors(tmp_path: Path) -> None:
    rgba = np.full((6, 8, 4), 255, np.uint8)
    rgba[2, 3, 3] = 10
    save_png(tmp_path / "alpha.png", rgba)
    with pytest.raises(DataError, match=r"alpha\.png.*transparency"):
        load_image(tmp_path / "alpha.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(DataError, match=r"text\.png.*not a readable image"):
        load_image(tmp_path / "text.png")
    with pytest.raises(DataError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png")


# ----------------------------------------------------------------------------- parsing and detection


def test_parse_scene_cuts() -> None:
    assert V.parse_scene_cuts("103;136;164") == (103, 136, 164)
    assert V.parse_scene_cuts("") == () and V.parse_scene_cuts(None) == ()
    with pytest.raises(DataError):
        V.parse_scene_cuts("12;abc")
    assert V.shots_from_cuts(20, (5, 12)) == [(0, 5), (5, 12), (12, 20)]


def test_detect_repeats_and_cuts_on_synthetic_mad() -> None:
    rng = np.random.default_rng(0)
    moving = 2.0 + rng.random(60)
    moving[5::6] = 0.05  # frame-rate-conversion repeats every 6th pair
    assert np.nonzero(V.detect_repeats(moving))[0].tolist() == list(range(5, 60, 6))
    static = 0.2 + 0.05 * rng.random(60)  # a still shot: small but even MADs are not repeats
    assert not V.detect_repeats(static).any()
    spikes = 2.0 + rng.random(40)
    spikes[17] = 60.0
    assert V.detect_scene_cuts(spikes) == (18,)


def test_read_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "file,repo,fps,frames,scene_cuts,notes\nclips/a.mp4,o/r,30,10,3;7,WARNING: repeats\nclips/b.mp4,o/s,30,9,,\n"
    )
    specs = V.read_manifest(tmp_path / "manifest.csv")
    assert [s.scene_cuts for s in specs] == [(3, 7), ()]
    assert specs[0].source == tmp_path / "clips" / "a.mp4" and specs[0].repo == "o/r"


# ----------------------------------------------------------------------------- cache


def test_cache_is_reused_and_atomic(cut_video: Path, tmp_path: Path) -> None:
    spec = V.ClipSpec(cut_video, repo="toy")
    n0 = V.decode_count()
    clip = V.load_clip(spec, cache_dir=tmp_path, max_side=48)
    assert V.decode_count() == n0 + 1
    assert clip.frames.shape == (24, 48, 48, 3)  # downscaled: longer side <= max_side
    assert isinstance(clip.frames, np.memmap)
    npy = next(tmp_path.glob("*[0-9a-f].npy"))
    mtime = npy.stat().st_mtime_ns
    again = V.load_clip(spec, cache_dir=tmp_path, max_side=48)
    assert V.decode_count() == n0 + 1 and npy.stat().st_mtime_ns == mtime
    assert np.array_equal(again.frames, clip.frames)
    assert not list(tmp_path.glob("*.tmp"))
    # A run killed before the metadata was written left no valid entry: it is decoded again.
    next(tmp_path.glob("*.json")).unlink()
    V.load_clip(spec, cache_dir=tmp_path, max_side=48)
    assert V.decode_count() == n0 + 2


def test_opencv_decode_matches_pyav(cut_video: Path) -> None:
    """The OpenCV fallback (machines without PyAV) decodes the same frames, downscaled the same way."""
    pytest.importorskip("cv2")
    for max_side in (None, 40):
        by_av = list(V._iter_video(cut_video, max_side))
        by_cv2 = list(V._iter_video_cv2(cut_video, max_side))
        assert len(by_cv2) == len(by_av) == 24
        for a, b in zip(by_av, by_cv2, strict=True):
            assert a.shape == b.shape == ((64, 64, 3) if max_side is None else (40, 40, 3))
            # YUV->RGB conversions differ by rounding (swscale vs OpenCV), not by content.
            assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0


def test_opencv_decode_errors_name_the_path(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(V.DataError, match=r"broken\.mp4"):
        list(V._iter_video_cv2(bad, None))


def test_png_folder_clip(tmp_path: Path) -> None:
    for i, f in enumerate(square_frames(n=6, cut=100, size=32)):
        save_png(tmp_path / "frames" / f"{i:03d}.png", f)
    clip = V.load_clip(V.ClipSpec(tmp_path / "frames", repo="png"), cache_dir=tmp_path / "c")
    assert clip.frames.shape == (6, 32, 32, 3)
    assert np.array_equal(clip.frames[2], square_frames(n=6, cut=100, size=32)[2])


# ----------------------------------------------------------------------------- sampling


def test_detected_cut_and_no_straddling(cut_clip: V.CachedClip) -> None:
    assert cut_clip.cuts == (12,)
    ds = dataset(cut_clip, p_arbitrary_t=0.5, p_reverse=0.5)
    for idx in range(150):
        lo, _, hi = sorted(ds[idx]["frames"])
        assert hi < 12 or lo >= 12, (idx, lo, hi)


def test_arbitrary_t_and_gt_frame(cut_clip: V.CachedClip) -> None:
    ds = dataset(cut_clip, p_arbitrary_t=1.0, p_reverse=0.5)
    ts = set()
    for idx in range(80):
        it = ds[idx]
        a, g, b = it["frames"]
        n = abs(b - a)
        t = abs(g - a) / n
        assert float(it["t"]) == pytest.approx(t)
        assert it["reversed"] == (a > b)
        y, x, h, w = it["box"]
        for key, f in (("img0", a), ("gt", g), ("img1", b)):
            ref = torch.from_numpy(np.array(cut_clip.frames[f, y : y + h, x : x + w])).permute(2, 0, 1).float() / 255
            assert torch.equal(it[key], ref), (idx, key)
        ts.add(round(float(it["t"]), 4))
    assert len(ts) > 3  # not only t = 0.5


def test_repeats_are_never_inside_a_window(cut_clip: V.CachedClip) -> None:
    clip = V.CachedClip(
        cut_clip.spec, cut_clip.frames, cut_clip.thumbs, cut_clip.mad, cut_clip.cuts, cut_clip.repeats.copy()
    )
    clip.repeats[4] = True  # pretend frame 5 repeats frame 4
    for n in (2, 4, 6):
        for i in clip.valid_starts(n):
            assert not (i <= 4 < i + n), (n, i)
    assert len(clip.valid_starts(2)) > 0


def test_determinism_and_augmentations(cut_clip: V.CachedClip) -> None:
    kw = dict(p_hflip=0.5, p_vflip=0.5, p_reverse=0.5, color_jitter=0.1, p_arbitrary_t=0.25)
    a, b, c = dataset(cut_clip, seed=3, **kw), dataset(cut_clip, seed=3, **kw), dataset(cut_clip, seed=4, **kw)
    order = [7, 0, 3, 12, 5]
    for i in order:
        x, y = a[i], b[i]
        for key in ("img0", "img1", "gt", "t"):
            assert torch.equal(x[key], y[key])
    assert any(not torch.equal(a[i]["img0"], c[i]["img0"]) for i in order)
    items = [a[i] for i in range(40)]
    assert any(it["hflip"] for it in items) and any(it["reversed"] for it in items)
    for it in items:
        assert it["img0"].shape == (3, 32, 32) and 0 <= float(it["img0"].min()) <= float(it["img0"].max()) <= 1


def test_static_crops_are_redrawn(cut_clip: V.CachedClip) -> None:
    ds = dataset(cut_clip, static_mad=0.002, max_tries=20)
    for idx in range(30):
        it = ds[idx]
        assert (it["img0"] - it["img1"]).abs().mean() >= 0.002 or it["tries"] == 20


def test_repo_balancing(cut_clip: V.CachedClip) -> None:
    clips = [
        V.CachedClip(
            V.ClipSpec(cut_clip.spec.source, repo=r),
            cut_clip.frames,
            cut_clip.thumbs,
            cut_clip.mad,
            cut_clip.cuts,
            cut_clip.repeats,
        )
        for r in ("a", "a", "a", "b")
    ]
    ds = V.VideoTripletDataset(clips, crop=32)
    assert ds.repo_weights() == pytest.approx({"a": 0.5, "b": 0.5})
    assert V.VideoTripletDataset(clips, crop=32, balance="clip").repo_weights()["a"] == pytest.approx(0.75)


def test_build_training_set_drops_val_overlap(cut_video: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "train" / "clips").mkdir(parents=True)
    os.link(cut_video, root / "train" / "clips" / "toy__square.mp4")
    (root / "train" / "manifest.csv").write_text("file,repo,scene_cuts,notes\nclips/toy__square.mp4,toy/sq,12,\n")
    other = square_frames(n=10, cut=100)
    other = [np.ascontiguousarray(f[:, ::-1]) for f in other]  # a different clip
    write_mp4(root / "videos" / "src__other.mp4", other)
    # The validation set holds frames 3-5 of "other": that clip must be dropped.
    for i, f in enumerate(other[3:6], 1):
        save_png(root / "val" / "src" / "seq" / f"im{i}.png", f)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = V.build_training_set(root, crop=32, cache_dir=tmp_path / "cache", max_side=64)
    assert [c.name for c in ds.clips] == ["toy__square"]
    assert any("src__other" in str(x.message) for x in w)
    assert ds.clips[0].cuts == (12,)


# ----------------------------------------------------------------------------- the real shared data


@pytest.mark.skipif(not (SHARED / "train" / "manifest.csv").is_file(), reason="shared data absent")
def test_shared_manifest_parses() -> None:
    specs = V.read_manifest(SHARED / "train" / "manifest.csv")
    assert len(specs) == 63
    cuts = {s.name: s.scene_cuts for s in specs if s.scene_cuts}
    assert cuts == {"KwaiVGI__LivePortrait__driving_d12": (103, 136, 164)}
    assert all(s.source.is_file() for s in specs)


def test_dataset_pickles_without_copying_frames(cut_clip: V.CachedClip) -> None:
    import pickle

    ds = dataset(cut_clip)
    blob = pickle.dumps(ds)
    assert len(blob) < cut_clip.frames.nbytes // 4  # the frames travel as a file name
    again = pickle.loads(blob)
    assert torch.equal(again[5]["gt"], ds[5]["gt"])
