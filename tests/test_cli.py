"""The image-pair CLI: a real run, and every bad input → one line on stderr, exit ≠ 0, no output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import moving_pair, tiny_model
from PIL import Image

from edgevfi.checkpoint import save_checkpoint
from edgevfi.io import to_uint8


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgevfi", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    a, b = moving_pair(45, 67)
    Image.fromarray(to_uint8(a)).save(d / "a.png")
    Image.fromarray(to_uint8(b)).save(d / "b.png")
    Image.fromarray(to_uint8(torch.rand(1, 3, 20, 20))).save(d / "small.png")
    Image.fromarray(np.full((45, 67), 128, np.uint8), mode="L").save(d / "gray.png")
    rgba = np.zeros((45, 67, 4), np.uint8)
    rgba[..., 3] = 100
    Image.fromarray(rgba, mode="RGBA").save(d / "alpha.png")
    Image.fromarray(np.full((45, 67), 40000, np.uint16)).save(d / "deep.png")
    (d / "notimage.png").write_text("hello")
    save_checkpoint(tiny_model("apr-s"), d / "tiny.safetensors")
    torch.save({"x": torch.zeros(1)}, d / "pickle.pt")
    return d


def assert_clean_failure(proc: subprocess.CompletedProcess, out: Path, needle: str) -> None:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.stem}.*"))  # no temp leftovers


def test_interpolate_pair_writes_image(files):
    out = files / "mid.png"
    proc = run_cli(
        "interpolate",
        str(files / "a.png"),
        str(files / "b.png"),
        "-o",
        str(out),
        "--checkpoint",
        str(files / "tiny.safetensors"),
        "--t",
        "0.3",
    )
    assert proc.returncode == 0, proc.stderr
    img = np.asarray(Image.open(out))
    assert img.shape == (45, 67, 3)
    # Existing output is refused without --overwrite, and left untouched.
    before = out.read_bytes()
    proc = run_cli(
        "interpolate",
        str(files / "a.png"),
        str(files / "b.png"),
        "-o",
        str(out),
        "--checkpoint",
        str(files / "tiny.safetensors"),
    )
    assert proc.returncode != 0 and "already exists" in proc.stderr
    assert out.read_bytes() == before
    # Motion TTA: the same command with the mirrored pair's motion averaged in writes another frame.
    proc = run_cli(
        "interpolate",
        str(files / "a.png"),
        str(files / "b.png"),
        "-o",
        str(files / "mid_tta.png"),
        "--checkpoint",
        str(files / "tiny.safetensors"),
        "--t",
        "0.3",
        "--motion-tta",
        "4",
    )
    assert proc.returncode == 0, proc.stderr
    assert np.asarray(Image.open(files / "mid_tta.png")).shape == (45, 67, 3)


def test_grayscale_and_16bit_are_converted(files):
    out = files / "gray_out.png"
    proc = run_cli("interpolate", str(files / "gray.png"), str(files / "deep.png"), "-o", str(out), "--model", "blend")
    assert proc.returncode == 0, proc.stderr
    img = np.asarray(Image.open(out)).astype(int)
    # 128/255 gray and 40000/65535 → mean of the two values, in RGB.
    assert img.shape == (45, 67, 3)
    assert abs(img.mean() - (128 + 40000 / 65535 * 255) / 2) < 1.0


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing", "does not exist"),
        ("notimage", "not"),
        ("sizes", "same size"),
        ("alpha", "transparen"),
        ("t", "between 0 and 1"),
        ("model", "unknown model"),
        ("pickle", "pickle"),
        ("nofolder", "does not exist"),
        ("fine_canvas", "--fine-canvas must be >= 0"),
        ("fine_canvas_bundle", "static motion canvases"),
        ("canvas_upscale", "--canvas-upscale must be >= 1"),
        ("canvas_upscale_bundle", "--canvas-upscale is for eager runs"),
        ("consensus_blend", "has no motion stage"),
        ("consensus_bundle", "--motion-consensus is for eager runs"),
        ("motion_tta", "averages single flows"),
    ],
)
def test_bad_input(files, case, needle):
    a, b = str(files / "a.png"), str(files / "b.png")
    out = files / f"out_{case}.png"
    extra = ["--model", "blend"]
    if case == "missing":
        a = str(files / "nope.png")
    elif case == "notimage":
        a = str(files / "notimage.png")
    elif case == "sizes":
        b = str(files / "small.png")
    elif case == "alpha":
        a = str(files / "alpha.png")
    elif case == "t":
        extra += ["--t", "1.5"]
    elif case == "model":
        extra = ["--model", "does-not-exist"]
    elif case == "pickle":
        extra = ["--checkpoint", str(files / "pickle.pt")]
    elif case == "nofolder":
        out = files / "missing_dir" / "out.png"
    elif case == "fine_canvas":
        extra = ["--fine-canvas", "-1"]
    elif case == "fine_canvas_bundle":
        extra = ["--bundle", str(files), "--fine-canvas", "768"]
    elif case == "canvas_upscale":
        extra = ["--canvas-upscale", "0.5"]
    elif case == "canvas_upscale_bundle":
        extra = ["--bundle", str(files), "--canvas-upscale", "2"]
    elif case == "consensus_blend":
        extra += ["--motion-consensus", "off"]
    elif case == "consensus_bundle":
        extra = ["--bundle", str(files), "--motion-consensus", "off"]
    elif case == "motion_tta":  # SVMV's motion holds several hypotheses: nothing to average
        extra = ["--model", "svmv-s", "--motion-tta", "2"]
    proc = run_cli("interpolate", a, b, "-o", str(out), *extra)
    if case == "nofolder":
        assert proc.returncode != 0 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
        return
    assert_clean_failure(proc, out, needle)


def test_motion_consensus_flag_switches_the_setting_and_keeps_the_weights():
    import argparse

    from edgevfi import models
    from edgevfi.cli import _with_motion_settings

    shipped = models.create("apr-s", pretrained=True)
    assert shipped.config.motion_consensus  # the shipped edge models have it on
    off = _with_motion_settings(shipped, argparse.Namespace(motion_consensus="off"))
    assert not off.config.motion_consensus
    assert all(torch.equal(v, shipped.state_dict()[k]) for k, v in off.state_dict().items())
    assert _with_motion_settings(shipped, argparse.Namespace(motion_consensus="on")) is shipped
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        assert not torch.equal(off.motion(a, b)[0], shipped.motion(a, b)[0])


def test_models_lists_registry():
    proc = run_cli("models")
    assert proc.returncode == 0
    for name in ("apr-s", "svmv-s", "blend"):
        assert name in proc.stdout
