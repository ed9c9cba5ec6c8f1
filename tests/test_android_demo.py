"""android_demo: the phone harness's plain-Kotlin core against Python, and its JSON contracts.

* The golden files (tile plans, region arithmetic, the Runner end to end, timing summaries, size
  parsing) are what Python computes now — so they cannot drift from ``edgevfi``.
* ``GoldenCheck.kt`` (compiled with ``kotlinc`` once per session, with the app's Android-facing
  sources against API stubs) must reproduce every golden, read a real bundle's manifest and write
  bench JSON that ``schemas/bench.schema.json`` accepts. Skipped only where ``kotlinc`` is absent
  (``.ci/install_kotlin.sh`` installs it).
* The manifest keys the app reads exist in a bundle written by ``write_bundle``.
* ``android_demo/run.py`` without a device: argument checks, a missing adb or device, a simulated
  device (a fake ``adb`` on PATH), and the side-by-side table.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import tiny_model

from edgevfi.runtime.tiles import TilePlan
from export.bundle import write_bundle

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "android_demo"
APP_SRC = DEMO / "app" / "src"
CORE = APP_SRC / "main" / "java" / "dev" / "edgevfi" / "demo" / "core"
ANDROID_SRC = APP_SRC / "main" / "java" / "dev" / "edgevfi" / "demo"
GOLDEN_CHECK = APP_SRC / "test" / "kotlin" / "dev" / "edgevfi" / "demo" / "GoldenCheck.kt"
STUBS = APP_SRC / "test" / "stubs"
GOLDENS = APP_SRC / "test" / "resources" / "goldens"
SCHEMA = json.loads((ROOT / "schemas" / "bench.schema.json").read_text())


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def exporter() -> ModuleType:
    return _module("export_tile_goldens", ROOT / "scripts" / "export_tile_goldens.py")


@pytest.fixture(scope="module")
def run_py() -> ModuleType:
    return _module("android_demo_run", DEMO / "run.py")


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> Path:
    """A real ``write_bundle`` bundle (manifest, hashes, I/O shapes) with stand-in artifacts: the
    lowering itself is tested in test_export.py; here only what the phone reads matters."""

    def lower(backend: str, specs: dict, path: Path) -> dict:
        path.write_bytes(f"{backend}/{'+'.join(specs)} stand-in".encode())
        return {name: {"total": 1, "delegated": 1} for name in specs}

    root = tmp_path_factory.mktemp("android_bundle")
    return write_bundle(
        tiny_model("apr-s"),
        root / "bundle",
        ["et", "litert"],
        model_name="tiny-apr",
        canvas=(64, 96),
        fine_canvases=((96, 160),),
        tile=128,
        lower=lower,
        log=lambda *_: None,
    )


# --- goldens ---------------------------------------------------------------------------------


def _same(a: Any, b: Any, where: str = "") -> str | None:
    """First difference between two parsed goldens: ints/strings exact, floats within 1e-6 relative.

    Not byte equality: PyTorch's CPU kernels may round the last bit differently on another CPU
    (fused multiply-adds), which is no drift of the arithmetic the phone must reproduce.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where}: keys {sorted(a)} vs {sorted(b)}"
        return next((d for k in a if (d := _same(a[k], b[k], f"{where}.{k}"))), None)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        return next((d for i, (x, y) in enumerate(zip(a, b, strict=True)) if (d := _same(x, y, f"{where}[{i}]"))), None)
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, int | float) and isinstance(b, int | float) and abs(a - b) <= 1e-6 * max(1.0, abs(b))
        return None if ok else f"{where}: {a!r} vs {b!r}"
    return None if a == b and type(a) is type(b) else f"{where}: {a!r} vs {b!r}"


def test_committed_goldens_are_what_python_computes_now(exporter):
    fresh = exporter.build_goldens()
    committed = {p.name for p in GOLDENS.glob("*.json")}
    assert committed == set(fresh), "golden files differ: run python scripts/export_tile_goldens.py"
    for name, text in fresh.items():
        diff = _same(json.loads(text), json.loads((GOLDENS / name).read_text(encoding="utf-8")), name)
        assert diff is None, f"{diff} — the Python code changed: run python scripts/export_tile_goldens.py"


def test_goldens_cover_the_required_cases():
    plans = json.loads((GOLDENS / "tile_plans.json").read_text(encoding="utf-8"))
    cases = plans["cases"]
    frames = {tuple(c["frame_hw"]) for c in cases if "error" not in c}
    assert {(1, 1), (720, 1280), (1080, 1920), (2160, 3840), (1280, 720)} <= frames
    default = [c for c in cases if (c["tile"], c["halo"], c["overlap"], c["align"]) == (448, 32, 32, 32)]
    assert any(c["frame_hw"] == [720, 1280] and c["windows"] == 8 for c in default)
    assert sum("error" in c for c in cases) >= 8
    runner = json.loads((GOLDENS / "runner.json").read_text(encoding="utf-8"))
    shifts = [s for o in runner["outputs"] for s in o["shifts"]]
    assert any(any(v != 0 for v in s) for s in shifts), "the runner golden must exercise non-zero shifts"


# --- Kotlin ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden_jar(tmp_path_factory) -> Path:
    """The core, the app's Android-facing sources (against stubs) and GoldenCheck, compiled once."""
    kotlinc, java = shutil.which("kotlinc"), shutil.which("java")
    if kotlinc is None or java is None:
        pytest.skip("kotlinc/java not installed (run .ci/install_kotlin.sh, or apt-get install kotlin)")
    jar = tmp_path_factory.mktemp("kotlin") / "golden-check.jar"
    sources = [*sorted(CORE.glob("*.kt")), *sorted(ANDROID_SRC.glob("*.kt")), *sorted(STUBS.glob("*.kt")), GOLDEN_CHECK]
    proc = subprocess.run(
        [kotlinc, "-nowarn", *map(str, sources), "-include-runtime", "-d", str(jar)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "error:" in ln]
    assert proc.returncode == 0 and jar.is_file(), "kotlinc failed:\n" + "\n".join(errors or [proc.stderr[-3000:]])
    return jar


@pytest.fixture(scope="module")
def golden_run(golden_jar, tiny_bundle, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("golden_run")
    argv = [
        "java", "-jar", str(golden_jar), str(GOLDENS),
        "--bench-out", str(out / "bench_sample.json"),
        "--manifest", str(tiny_bundle / "manifest.json"),
        "--manifest-out", str(out / "manifest_summary.json"),
        "--manifest-bench-out", str(out / "bench_manifest.json"),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return proc, out


def test_kotlin_core_reproduces_the_python_goldens(golden_run):
    proc, _ = golden_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"^\d+ checks, 0 failures$", proc.stdout, re.M), proc.stdout
    for section in ("tile plans", "region ops", "runner", "canvas choice", "stats", "sizes", "bench json", "manifest"):
        assert f"{section}: ok" in proc.stdout


def test_kotlin_bench_json_is_schema_valid(golden_run):
    proc, out = golden_run
    assert proc.returncode == 0, proc.stdout[-4000:]
    graphs = {"bench_sample.json": {"motion", "synth"}, "bench_manifest.json": {"motion", "motion_96x160", "synth"}}
    for name, want in graphs.items():
        result = json.loads((out / name).read_text(encoding="utf-8"))  # strict JSON: no NaN, no trailing commas
        jsonschema.validate(result, SCHEMA)
        assert result["harness"] == "android" and set(result["graphs"]) == want
        assert "samples_ms" in result["end_to_end"] and result["peak_rss_mb"] > 0
    # The phone counts the windows of the same plan as Python.
    result = json.loads((out / "bench_manifest.json").read_text(encoding="utf-8"))
    W, H = result["size"]
    plan = TilePlan((H, W), tile=128, halo=32, overlap=32, align=32)
    assert result["end_to_end"]["synth_calls"] == result["tile_plan"]["windows"] == len(plan.windows())
    # Zero motion (the stand-in graphs) on a 200x120 frame: the runner takes the fine canvas (96x160 fits).
    assert result["end_to_end"]["motion_calls"] == 2 and result["end_to_end"]["motion_canvas"] == [96, 160]


def test_kotlin_reads_a_real_manifest_as_python_wrote_it(golden_run, tiny_bundle):
    proc, out = golden_run
    assert proc.returncode == 0, proc.stdout[-4000:]
    got = json.loads((out / "manifest_summary.json").read_text(encoding="utf-8"))
    m = json.loads((tiny_bundle / "manifest.json").read_text())
    keys = ("file", "macs", "inputs", "outputs")
    expect = {
        "model": m["model"]["name"],
        "precision": m["precision"],
        **{k: m[k] for k in ("canvas", "tile", "halo", "overlap", "align", "max_batch", "displacement_channels")},
        **{k: m[k] for k in ("fine_canvases", "motion_reach", "canvas_multiple", "fine_canvas_upscale")},
        "backends": {
            b: {
                "warp_impl": e["warp_impl"],
                "graphs": {
                    g: {**{k: e["graphs"][g][k] for k in keys}, "method": e["graphs"][g].get("method")}
                    for g in ("motion", "motion_96x160", "synth")
                },
            }
            for b, e in m["backends"].items()
        },
        "files": len(m["files"]),
    }
    assert got == expect


# --- manifest contract (no Kotlin needed) ----------------------------------------------------


def _kotlin_key_lists() -> dict[str, list[str]]:
    """The ``val NAME = listOf("a", "b", ...)`` lists of ``ManifestKeys`` in BundleManifest.kt."""
    src = (CORE / "BundleManifest.kt").read_text(encoding="utf-8")
    body = src[src.index("object ManifestKeys") :]
    body = body[: body.index("\n}\n")]
    lists = {
        name: re.findall(r'"([^"]*)"', items)
        for name, items in re.findall(r"val (\w+) = listOf\(([^)]*)\)", body, re.S)
    }
    assert {"TOP_LEVEL", "FINE", "MODEL", "BACKEND", "GRAPHS", "GRAPH", "TENSOR", "SYNTH_INPUTS"} <= set(lists)
    return lists


def test_motion_graphs_share_one_artifact_a_method_each(tiny_bundle):
    """ExecuTorch and LiteRT bundles keep every motion canvas in one file (weights once), one method /
    signature each, named under the key the app reads."""
    src = (CORE / "BundleManifest.kt").read_text(encoding="utf-8")
    method = re.search(r'const val METHOD = "(\w+)"', src).group(1)
    m = json.loads((tiny_bundle / "manifest.json").read_text())
    for backend, suffix in (("et", ".pte"), ("litert", ".tflite")):
        graphs = m["backends"][backend]["graphs"]
        assert graphs["motion"]["file"] == graphs["motion_96x160"]["file"] == f"{backend}/motion{suffix}"
        assert (graphs["motion"][method], graphs["motion_96x160"][method]) == ("motion", "motion_96x160")
        assert method not in graphs["synth"] and graphs["synth"]["file"] == f"{backend}/synth{suffix}"
    assert sorted(m["files"]) == sorted({g["file"] for e in m["backends"].values() for g in e["graphs"].values()})


def test_manifest_keys_the_app_reads_exist_in_a_real_bundle(tiny_bundle):
    keys = _kotlin_key_lists()
    m = json.loads((tiny_bundle / "manifest.json").read_text())
    missing = [k for k in keys["TOP_LEVEL"] + keys["FINE"] if k not in m]
    missing += [f"model.{k}" for k in keys["MODEL"] if k not in m["model"]]
    for b, entry in m["backends"].items():
        missing += [f"backends.{b}.{k}" for k in keys["BACKEND"] if k not in entry]
        for g in keys["GRAPHS"]:
            graph = entry["graphs"].get(g)
            if graph is None:
                missing.append(f"backends.{b}.graphs.{g}")
                continue
            missing += [f"backends.{b}.graphs.{g}.{k}" for k in keys["GRAPH"] if k not in graph]
            for io in ("inputs", "outputs"):
                for i, t in enumerate(graph[io]):
                    missing += [f"backends.{b}.graphs.{g}.{io}[{i}].{k}" for k in keys["TENSOR"] if k not in t]
        assert [x["name"] for x in entry["graphs"]["synth"]["inputs"]] == keys["SYNTH_INPUTS"]
        assert [x["name"] for x in entry["graphs"]["motion"]["inputs"]] == keys["MOTION_INPUTS"]
        assert [x["name"] for x in entry["graphs"]["motion"]["outputs"]] == keys["MOTION_OUTPUTS"]
    assert not missing, f"manifest keys the phone reads are missing: {missing}"
    assert m["format"] == "edgevfi-bundle" and m["version"] == 1 and m["max_batch"] == 1


# --- run.py ----------------------------------------------------------------------------------


def _result(harness: str, scale: float = 1.0) -> dict:
    timing = {"p50_ms": 10.0 * scale, "p90_ms": 12.0 * scale, "trimmed_mean_ms": 10.5 * scale, "spread": 0.2}
    return {
        "schema": "edgevfi-bench/1",
        "harness": harness,
        "backend": "et",
        "size": [1280, 720],
        "threads": 4,
        "runs": 20,
        "load_ms": 50.0 * scale,
        "peak_rss_mb": 300.0,
        "graphs": {
            "motion": {**timing, "macs": 10**9, "gmacs_per_s": 100.0 / scale},
            "synth": {**timing, "macs": 2 * 10**9, "gmacs_per_s": 200.0 / scale},
        },
        "end_to_end": {"p50_ms": 200.0 * scale, "p90_ms": 220.0 * scale, "synth_calls": 15, "gmacs_per_s": 150.0},
        "device": {"cpu": "Test CPU", "cores": 8, "model": f"{harness} box"},
    }


def test_run_py_side_by_side_table(run_py):
    host, phone = _result("host"), _result("android", scale=3.0)
    for r in (host, phone):
        jsonschema.validate(r, SCHEMA)
    text = run_py.side_by_side(host, phone)
    assert "host box" in text and "android box" in text and "15 windows" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("synth p50"))
    assert "10.0 ms" in row and "30.0 ms" in row and row.endswith("3.00x")
    assert "frame p90" in text and "load" in text
    alone = run_py.side_by_side(None, phone)
    assert "(no host figures)" in alone and "—" in alone


def test_run_py_size_parser_matches_the_host_bench(run_py):
    for case in json.loads((GOLDENS / "sizes.json").read_text(encoding="utf-8"))["cases"]:
        if "out" in case:
            assert list(run_py.parse_size(case["text"])) == case["out"]
        else:
            with pytest.raises(run_py.RunError, match=re.escape(case["error"])):
                run_py.parse_size(case["text"])


def _main(run_py, argv: list[str], capsys) -> tuple[int, str, str]:
    code = run_py.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_run_py_bad_input_is_one_line(run_py, tiny_bundle, tmp_path, capsys):
    cases = [
        ([str(tmp_path / "nope"), "--backend", "et"], "no such bundle folder"),
        ([str(tiny_bundle), "--backend", "et", "--size", "huge"], "unknown size 'huge'"),
        ([str(tiny_bundle), "--backend", "et", "--runs", "0"], "--runs must be"),
        ([str(tiny_bundle), "--backend", "et", "--apk", str(tmp_path / "x.apk")], "no such APK"),
        ([str(tiny_bundle), "--backend", "et", "--host-json", str(tmp_path / "h.json")], "no such host result"),
    ]
    only_onnx = tmp_path / "onnx_only"
    only_onnx.mkdir()
    (only_onnx / "manifest.json").write_text(json.dumps({"backends": {"onnx": {}}}))
    cases.append(([str(only_onnx), "--backend", "litert"], "has no litert artifacts (it has: onnx)"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**_result("host"), "harness": "desktop"}))
    cases.append(([str(tiny_bundle), "--backend", "et", "--host-json", str(bad)], "not a valid bench result"))
    for argv, message in cases:
        code, _, err = _main(run_py, argv, capsys)
        assert code == 2, (argv, err)
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    with pytest.raises(SystemExit) as e:
        run_py.main([str(tiny_bundle), "--backend", "onnx"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_run_py_without_adb_exits_2(run_py, tiny_bundle, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = _main(run_py, [str(tiny_bundle), "--backend", "et", "--no-host"], capsys)
    assert code == 2 and err.strip() == (
        "run.py: error: adb not found on PATH: install Android platform-tools (sdkmanager 'platform-tools')"
    )


FAKE_ADB = """#!{python}
# A stand-in for adb: one device, the app installed, and a result file once the activity started.
import json, os, sys
state = os.environ["FAKE_ADB_STATE"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[:2] == ["-s", "{serial}"]:
    args = args[2:]
if args == ["devices"]:
    devices = os.environ.get("FAKE_ADB_DEVICES", "{serial}")
    print("List of devices attached")
    for d in filter(None, devices.split(",")):
        print(d + "\\tdevice")
    print()
elif args[:1] == ["shell"] and args[1].startswith("pm list packages"):
    print("package:dev.edgevfi.demo")
elif args[:2] == ["shell", "am"] and "start" in args:
    open(os.path.join(state, "started"), "w").close()
    print("Status: ok")
elif args[:1] == ["exec-out"] and args[-1].endswith("bench.json") and "run-as" in args:
    if os.path.exists(os.path.join(state, "started")):
        sys.stdout.write(open(os.path.join(state, "phone.json")).read())
    else:
        sys.exit(1)
elif args[:1] == ["exec-out"]:
    sys.exit(1)
"""


def _fake_adb(tmp_path: Path, monkeypatch, devices: str = "SER1") -> Path:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB.replace("{python}", sys.executable).replace("{serial}", "SER1"))
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    (state / "phone.json").write_text(json.dumps(_result("android", scale=2.0)))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_STATE", str(state))
    monkeypatch.setenv("FAKE_ADB_DEVICES", devices)
    return state


def test_run_py_needs_a_ready_device(run_py, tiny_bundle, tmp_path, monkeypatch, capsys):
    _fake_adb(tmp_path, monkeypatch, devices="")
    code, _, err = _main(run_py, [str(tiny_bundle), "--backend", "et", "--no-host"], capsys)
    assert code == 2 and "no Android device attached" in err
    monkeypatch.setenv("FAKE_ADB_DEVICES", "SER1,SER2")
    code, _, err = _main(run_py, [str(tiny_bundle), "--backend", "et", "--no-host"], capsys)
    assert code == 2 and "choose one with --serial" in err
    code, _, err = _main(run_py, [str(tiny_bundle), "--backend", "et", "--no-host", "--serial", "SER9"], capsys)
    assert code == 2 and "device SER9 is not attached" in err


def test_run_py_pushes_starts_polls_and_compares(run_py, tiny_bundle, tmp_path, monkeypatch, capsys):
    state = _fake_adb(tmp_path, monkeypatch)
    host = tmp_path / "host.json"
    host.write_text(json.dumps(_result("host")))
    out = tmp_path / "phone.json"
    argv = [str(tiny_bundle), "--backend", "litert", "--size", "720p", "--threads", "2", "--runs", "5"]
    code, stdout, err = _main(run_py, [*argv, "--host-json", str(host), "--out", str(out), "--serial", "SER1"], capsys)
    assert code == 0, err
    calls = [json.loads(ln) for ln in (state / "calls.jsonl").read_text().splitlines()]
    pushes = [c[3:] for c in calls if c[2:3] == ["push"]]
    assert [str(tiny_bundle / "manifest.json"), "/data/local/tmp/edgevfi/bundle/manifest.json"] in pushes
    assert [str(tiny_bundle / "litert"), "/data/local/tmp/edgevfi/bundle/"] in pushes
    assert not any(str(tiny_bundle / "et") in c for c in pushes)
    start = next(c for c in calls if "start" in c)
    extras = " ".join(start)
    for want in ("-n dev.edgevfi.demo/.BenchActivity", "--es backend litert", "--es size 1280x720", "--ei threads 2"):
        assert want in extras
    assert all(c[:2] == ["-s", "SER1"] for c in calls if c != ["devices"])
    assert json.loads(out.read_text())["harness"] == "android"
    assert "phone/host" in stdout and "2.00x" in stdout
