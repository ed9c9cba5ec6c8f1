"""scripts/average_checkpoints.py: the weighted mean of checkpoints, from files or git revisions."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import tiny_model

from edgevfi.checkpoint import load_checkpoint, read_metadata, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _average(argv: list[str]) -> None:
    spec = importlib.util.spec_from_file_location("average_checkpoints", ROOT / "scripts" / "average_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(argv)


def test_weighted_mean_of_two_checkpoints(tmp_path):
    a, b = tiny_model("apr-s"), tiny_model("apr-s")
    with torch.no_grad():
        for p in b.parameters():
            p.add_(torch.randn_like(p))
    save_checkpoint(a, tmp_path / "a.safetensors")
    save_checkpoint(b, tmp_path / "b.safetensors")
    out = tmp_path / "mean.safetensors"
    _average([str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"), "--weights", "1,3", "--out", str(out)])
    mean = load_checkpoint(out).state_dict()
    sa, sb = a.state_dict(), b.state_dict()
    for k, v in mean.items():
        if v.is_floating_point():
            assert torch.allclose(v, 0.25 * sa[k] + 0.75 * sb[k], atol=1e-6), k
    sources = read_metadata(out)["extra"]["averaged_from"]
    assert [s["weight"] for s in sources] == [0.25, 0.75] and all(len(s["sha256"]) == 64 for s in sources)


def test_mismatched_or_missing_inputs_are_one_line_errors(tmp_path):
    save_checkpoint(tiny_model("apr-s"), tmp_path / "apr.safetensors")
    save_checkpoint(tiny_model("svmv-s"), tmp_path / "svmv.safetensors")
    out = tmp_path / "mean.safetensors"
    cases = [
        ([str(tmp_path / "apr.safetensors"), str(tmp_path / "svmv.safetensors")], "differ"),
        ([str(tmp_path / "apr.safetensors"), str(tmp_path / "none.safetensors")], "no such checkpoint"),
        ([str(tmp_path / "apr.safetensors")], "at least two"),
        ([str(tmp_path / "apr.safetensors")] * 2 + ["--weights", "1"], "--weights"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as e:
            _average([*argv, "--out", str(out)])
        assert message in str(e.value) and "\n" not in str(e.value), (argv, e.value)
    assert not out.exists()


def test_git_revision_inputs(tmp_path, monkeypatch):
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    monkeypatch.chdir(ROOT)
    spec = "HEAD:edgevfi/weights/apr-s.safetensors"
    out = tmp_path / "same.safetensors"
    _average([spec, spec, "--out", str(out)])
    committed = tmp_path / "committed.safetensors"
    committed.write_bytes(subprocess.run(["git", "show", spec], capture_output=True, check=True).stdout)
    shipped = load_checkpoint(committed).state_dict()
    for k, v in load_checkpoint(out).state_dict().items():
        assert torch.equal(v, shipped[k]), k
    with pytest.raises(SystemExit, match="not found in git"):
        _average([spec, "HEAD:no/such.safetensors", "--out", str(out)])
