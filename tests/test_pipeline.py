"""``edgevfi pipeline``: every stage on a tiny model, a summary, resuming skips finished stages."""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("onnxruntime")
pytest.importorskip("nncf")
pytest.importorskip("torch_pruning")

from conftest import moving_pair, tiny_model
from PIL import Image

from edgevfi.checkpoint import save_checkpoint
from edgevfi.cli import main


def _write_val(root):
    seq = root / "seq"
    seq.mkdir(parents=True)
    a, b = moving_pair(64, 96, dx=4, dy=2)
    for i, img in enumerate((a, (a + b) / 2, b), 1):
        Image.fromarray((img[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(seq / f"im{i}.png")
    return root


def _spec(tmp_path, runs: int = 1) -> dict:
    return {
        "out": str(tmp_path / "work"),
        "checkpoint": str(tmp_path / "tiny.safetensors"),
        "data": "generated",
        "val": str(tmp_path / "val"),
        "stages": {
            "prune": {"ratio": 0.25, "count": 2},
            "export": {"backends": ["onnx"], "canvas": "96x64", "tile": 128},
            "parity": {},
            "int8": {"backends": ["onnx"], "calib_count": 2},
            "validate": {"max_drop": 5.0},
            "bench": {"size": "128x96", "threads": 1, "runs": runs},
        },
    }


def test_pipeline_runs_every_stage_and_resumes(tmp_path, capsys):
    save_checkpoint(tiny_model("apr-s", width=32, inner=48), tmp_path / "tiny.safetensors")
    _write_val(tmp_path / "val")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(_spec(tmp_path)))
    assert main(["pipeline", str(path)]) == 0
    summary = json.loads((tmp_path / "work" / "summary.json").read_text())
    stages = summary["stages"]
    assert list(stages) == ["prune", "export", "parity", "int8", "validate", "bench"]
    assert all(s["status"] == "ran" for s in stages.values())
    assert stages["prune"]["width"] == 24 and stages["prune"]["mac_ratio"] < 1.0
    assert stages["parity"]["pass"] and stages["validate"]["pass"]
    assert set(stages["bench"]["frame_p50_ms"]) == {"onnx-fp32", "onnx-int8"}
    assert (tmp_path / "work" / "summary.md").is_file()
    # Rerun: every stage is skipped.
    assert main(["pipeline", str(path)]) == 0
    again = json.loads((tmp_path / "work" / "summary.json").read_text())["stages"]
    assert all(s["status"] == "cached" for s in again.values())
    # Changing one stage's settings reruns that stage only (it is the last one).
    path.write_text(yaml.safe_dump(_spec(tmp_path, runs=2)))
    assert main(["pipeline", str(path)]) == 0
    third = json.loads((tmp_path / "work" / "summary.json").read_text())["stages"]
    assert third["bench"]["status"] == "ran" and third["int8"]["status"] == "cached"


def test_pipeline_bad_file(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "w"), "stages": {"distill": {}}}))
    assert main(["pipeline", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown stage 'distill'" in err and len(err.splitlines()) == 1
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "w"), "stages": {"validate": {}}}))
    assert main(["pipeline", str(path)]) == 2
    assert "needs stage int8" in capsys.readouterr().err
    assert main(["pipeline", str(tmp_path / "missing.yaml")]) == 2
    assert "no such pipeline file" in capsys.readouterr().err


def test_an_interrupted_resumable_stage_keeps_its_checkpoints(tmp_path):
    from edgevfi.pipeline import Pipeline

    pipe = Pipeline({"out": str(tmp_path / "w"), "stages": {}}, verb=lambda argv: 0, log=lambda *_: None)

    def interrupted(folder):
        (folder / "run").mkdir()
        (folder / "run" / "last.pt").write_text("step 700")
        raise KeyboardInterrupt

    def finish(folder):
        return {"kept": (folder / "run" / "last.pt").is_file()}

    with pytest.raises(KeyboardInterrupt):
        pipe._run_stage("finetune", "up", interrupted, resumable=True)
    assert pipe._run_stage("finetune", "up", finish, resumable=True)["kept"]  # resumed, not wiped
    # A stage that is not resumable, or whose inputs changed, starts clean.
    with pytest.raises(KeyboardInterrupt):
        pipe._run_stage("export", "up", interrupted)
    assert not pipe._run_stage("export", "up", finish)["kept"]
    with pytest.raises(KeyboardInterrupt):
        pipe._run_stage("tune", "up", interrupted, resumable=True)
    assert not pipe._run_stage("tune", "other input", finish, resumable=True)["kept"]
    # A finished stage is skipped on rerun.
    assert pipe._run_stage("finetune", "up", interrupted, resumable=True)["kept"]
