"""``edgevfi bench``: schema-valid JSON for each backend, statistics with known answers, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("executorch")
pytest.importorskip("jsonschema")

import jsonschema
from conftest import tiny_model

from edgevfi.checkpoint import save_checkpoint
from edgevfi.cli import main
from edgevfi.runtime import TilePlan
from export import latency
from export.bundle import write_bundle

CANVAS = (64, 96)
TILE = 128
SCHEMA = json.loads(latency.SCHEMA_PATH.read_text())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    model = tiny_model("apr-s")
    ckpt = save_checkpoint(model, root / "tiny.safetensors")
    return write_bundle(
        model,
        root / "bundle",
        ["onnx", "et"],
        model_name="tiny-apr",
        source=ckpt,
        canvas=CANVAS,
        tile=TILE,
        log=lambda *_: None,
    )


def test_parse_size_named_and_explicit():
    assert latency.parse_size("720p") == (1280, 720)
    assert latency.parse_size("4K") == (3840, 2160)
    assert latency.parse_size("333x190") == (333, 190)
    for bad in ("12k", "x720", "8x8", "1280"):
        with pytest.raises(ValueError, match="size"):
            latency.parse_size(bad)


def test_summarize_known_answers():
    s = latency.summarize([float(x) for x in range(1, 11)])  # 1 … 10 ms
    assert s["p50_ms"] == pytest.approx(5.5)
    assert s["p90_ms"] == pytest.approx(9.1)
    assert s["trimmed_mean_ms"] == pytest.approx(5.5)  # 2 … 9
    assert (s["min_ms"], s["max_ms"]) == (1.0, 10.0)
    assert s["spread"] == pytest.approx((9.1 - 1.9) / 5.5)
    # One outlier moves the mean but not the trimmed mean of the other nine.
    t = latency.summarize([10.0] * 9 + [1000.0])
    assert t["trimmed_mean_ms"] == 10.0 and t["p50_ms"] == 10.0


@pytest.mark.parametrize("backend", ["onnx", "et", "torch"])
def test_bench_writes_schema_valid_json(bundle, tmp_path, backend, capsys):
    out = tmp_path / "bench.json"
    rc = main(
        [
            "bench",
            str(bundle),
            "--backend",
            backend,
            "--size",
            "200x150",
            "--threads",
            "1",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    r = json.loads(out.read_text())
    jsonschema.validate(r, SCHEMA)
    assert r["backend"] == backend and r["size"] == [200, 150] and r["threads"] == 1 and r["harness"] == "host"
    windows = len(TilePlan((150, 200), tile=TILE, halo=r["tile_plan"]["halo"], overlap=32, align=32).windows())
    assert r["end_to_end"]["synth_calls"] == windows == r["tile_plan"]["windows"]
    for g in ("motion", "synth"):
        assert r["graphs"][g]["macs"] > 0 and r["graphs"][g]["p90_ms"] >= r["graphs"][g]["p50_ms"] > 0
        assert len(r["graphs"][g]["samples_ms"]) == 3
    assert r["end_to_end"]["macs"] == r["graphs"]["motion"]["macs"] + windows * r["graphs"]["synth"]["macs"]
    assert r["peak_rss_mb"] > 0 and r["roofline"]["peak_gmacs_per_s"] > 0 and r["device"]["cores"] >= 1
    assert r["bundle"]["model"] == "tiny-apr" and "bench" in r["command"]
    assert "frame" in capsys.readouterr().out


def test_schema_rejects_results_missing_required_keys(bundle):
    r = latency.run_bench(latency.bundle_harness(bundle, "onnx", 1), "onnx", (64, 64), 1, runs=1, warmup=0)
    jsonschema.validate(r, SCHEMA)
    for key in ("graphs", "end_to_end", "size", "load_ms"):
        broken = {k: v for k, v in r.items() if k != key}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**r, "size": [64]}, SCHEMA)


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    return err


def test_bench_bad_input(bundle, tmp_path, capsys):
    assert main(["bench", str(bundle), "--backend", "litert"]) == 2
    assert "no litert artifacts" in _error(capsys)
    assert main(["bench", str(bundle), "--backend", "onnx", "--size", "huge"]) == 2
    assert "unknown size" in _error(capsys)
    assert main(["bench", str(bundle), "--backend", "tensorrt"]) == 2
    assert "unknown backend" in _error(capsys)
    assert main(["bench", str(tmp_path / "nope"), "--backend", "onnx"]) == 2
    assert "no such bundle" in _error(capsys)
    assert main(["bench", "--backend", "onnx"]) == 2
    assert "give BUNDLE" in _error(capsys)
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "onnx" / "synth.onnx").unlink()
    assert main(["bench", str(broken), "--backend", "onnx"]) == 2
    assert "missing from the bundle" in _error(capsys)
