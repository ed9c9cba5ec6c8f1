"""``edgevfi pipeline pipeline.yaml``: checkpoint → prune → fine-tune → export → parity → INT8 → validate → bench.

Like :mod:`edgevfi.cli`, this is the top floor: each stage is one ``edgevfi`` verb (the same code
and the same checks as typing it), run into its own folder under ``out``. A stage that finished
writes ``stage.json`` with a fingerprint of its settings and of its input; a rerun skips every stage
whose fingerprint still matches and reruns the rest, so an interrupted pipeline resumes where it
stopped and editing one stage's settings reruns that stage and everything after it. A stage left
out of the YAML is skipped (its input passes through). One summary (``summary.json`` + ``.md``)
collects every stage's figures.

Stage order and settings (every key optional unless marked)::

    out: out/pipeline              # required: the work folder
    model: apr-s                   # or checkpoint: path/to.safetensors (default: shipped default)
    data: ../shared/data           # frames for pruning importance and INT8 calibration
    val: ../shared/data/val        # triplets for fine-tuning validation, parity, validate
    stages:
      prune:    {ratio: 0.25, block_ratios: [...], count: 16}
      finetune: {config: configs/x.yaml, steps: 1400}      # training settings; init/out are set here
      export:   {backends: [et, litert, onnx, coreml], canvas: 512x288, tile: 448}
      parity:   {limit: null}
      int8:     {backends: [et, litert, onnx], calib_count: 32, max_drop: null, qat_steps: 0, qat_lr: 1e-5}
      validate: {max_drop: 0.1, limit: null}
      bench:    {size: 720p, threads: 2, runs: 5}
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGES = ("prune", "finetune", "export", "parity", "int8", "validate", "bench")
STAGE_KEYS = {
    "prune": {"ratio", "block_ratios", "count"},
    "finetune": {"config", "steps", "settings"},
    "export": {"backends", "canvas", "tile"},
    "parity": {"limit"},
    "int8": {"backends", "calib_count", "max_drop", "qat_steps", "qat_lr", "keep_float"},
    "validate": {"max_drop", "limit"},
    "bench": {"size", "threads", "runs", "backends"},
}


class PipelineError(ValueError):
    """A bad pipeline file or a stage that failed (one line)."""


def load_pipeline(path: str | Path) -> dict[str, Any]:
    """Read and check a pipeline YAML: known stages and keys only, an ``out`` folder."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: no such pipeline file")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise PipelineError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(spec, dict) or "out" not in spec:
        raise PipelineError(f"{path}: expected a mapping with at least `out:` (the work folder)")
    unknown = set(spec) - {"out", "model", "checkpoint", "data", "val", "stages"}
    if unknown:
        raise PipelineError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    stages = spec.get("stages") or {}
    if not isinstance(stages, dict):
        raise PipelineError(f"{path}: `stages` must be a mapping of stage name → settings")
    for name, settings in stages.items():
        if name not in STAGES:
            raise PipelineError(f"{path}: unknown stage {name!r} (stages: {', '.join(STAGES)})")
        bad = set(settings or {}) - STAGE_KEYS[name]
        if bad:
            raise PipelineError(f"{path}: stage {name}: unknown settings {', '.join(sorted(bad))}")
    if "validate" in stages and "int8" not in stages:
        raise PipelineError(f"{path}: stage validate needs stage int8 (it validates the INT8 bundle)")
    if "parity" in stages and "export" not in stages:
        raise PipelineError(f"{path}: stage parity needs stage export")
    return spec


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    from edgevfi.io import sha256_file

    return sha256_file(path)[:16]


class Pipeline:
    """Runs the stages of a loaded spec; ``verb(argv) -> exit code`` is ``edgevfi.cli.main``."""

    def __init__(self, spec: dict[str, Any], verb: Callable[[list[str]], int], log: Callable[[str], None] = print):
        self.spec = spec
        self.verb = verb
        self.log = log
        self.out = Path(spec["out"])
        self.stages = spec.get("stages") or {}
        self.summary: dict[str, Any] = {"out": str(self.out), "stages": {}}

    def _run_stage(
        self, name: str, upstream: str, body: Callable[[Path], dict[str, Any]], resumable: bool = False
    ) -> dict[str, Any]:
        """Run ``body(folder)`` unless ``folder/stage.json`` matches (settings, upstream).

        A ``resumable`` stage (fine-tuning, which checkpoints as it goes) that was interrupted with the
        same fingerprint keeps its folder, so ``body`` picks up from its last checkpoint; any other
        unfinished or stale stage starts clean.
        """
        folder = self.out / name
        marker = folder / "stage.json"
        started = folder / "started.json"
        fingerprint = _digest({"settings": self.stages.get(name), "spec": self._shared(), "upstream": upstream})
        if marker.is_file():
            done = json.loads(marker.read_text())
            if done.get("fingerprint") == fingerprint:
                self.log(f"[{name}] done already (fingerprint {fingerprint}), skipped")
                self.summary["stages"][name] = {**done["result"], "status": "cached"}
                return done["result"]
        resume = resumable and not marker.is_file() and _read_json(started).get("fingerprint") == fingerprint
        if folder.exists() and not resume:
            shutil.rmtree(folder)  # a stale or half-written stage: start it clean
        folder.mkdir(parents=True, exist_ok=True)
        started.write_text(json.dumps({"fingerprint": fingerprint}))
        self.log(f"[{name}] {'resuming' if resume else 'running'} …")
        t0 = time.perf_counter()
        result = body(folder)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        marker.write_text(json.dumps({"fingerprint": fingerprint, "result": result}, indent=2))
        self.summary["stages"][name] = {**result, "status": "ran"}
        return result

    def _shared(self) -> dict[str, Any]:
        return {k: self.spec.get(k) for k in ("model", "checkpoint", "data", "val")}

    def _call(self, stage: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> int:
        rc = self.verb(argv)
        if rc not in ok:
            raise PipelineError(f"stage {stage} failed: edgevfi {' '.join(argv)} exited {rc}")
        return rc

    def run(self) -> dict[str, Any]:
        """Run every stage (skipping finished ones); write and return the summary."""
        from edgevfi import models
        from edgevfi.checkpoint import read_metadata

        self.out.mkdir(parents=True, exist_ok=True)
        spec, st = self.spec, self.stages
        if spec.get("checkpoint"):
            ckpt = Path(spec["checkpoint"])
        else:
            name = spec.get("model") or models.default_model_name()
            ckpt = models.shipped_weights(name)
            if ckpt is None:
                raise PipelineError(f"model {name!r} has no shipped weights; give `checkpoint:`")
        if not Path(ckpt).is_file():
            raise PipelineError(f"{ckpt}: no such checkpoint")
        ckpt = Path(ckpt)
        self.summary["source"] = str(ckpt)
        data = ["--data", str(spec["data"])] if spec.get("data") else []
        val = spec.get("val")

        if "prune" in st:
            s = st["prune"] or {}

            def prune(folder: Path) -> dict[str, Any]:
                out = folder / "pruned.safetensors"
                argv = ["prune", "--checkpoint", str(ckpt), "--ratio", str(s.get("ratio", 0.25)), "--out", str(out)]
                if s.get("block_ratios"):
                    argv += ["--block-ratios", ",".join(str(r) for r in s["block_ratios"])]
                self._call("prune", [*argv, *data, "--count", str(s.get("count", 16))])
                meta = read_metadata(out)
                config, extra = meta["config"], meta["extra"]
                return {
                    "checkpoint": str(out),
                    "params": extra["params"],
                    "mac_ratio": extra["mac_ratio"],
                    "width": config["width"],
                    "inner": config["inner"],
                }

            ckpt = Path(self._run_stage("prune", _file_digest(ckpt), prune)["checkpoint"])

        if "finetune" in st:
            s = st["finetune"] or {}
            ckpt = Path(
                self._run_stage(
                    "finetune", _file_digest(ckpt), lambda f: self._finetune(f, ckpt, s, val), resumable=True
                )["checkpoint"]
            )

        fp32 = int8 = None
        if "export" in st:
            s = st["export"] or {}

            def export(folder: Path) -> dict[str, Any]:
                bundle = folder / "bundle"
                argv = ["export", "--checkpoint", str(ckpt), "--out", str(bundle)]
                argv += ["--backend", ",".join(s.get("backends", ["et", "litert", "onnx", "coreml"]))]
                argv += ["--canvas", s["canvas"]] if s.get("canvas") else []
                argv += ["--tile", str(s["tile"])] if s.get("tile") else []
                self._call("export", argv)
                return {"bundle": str(bundle), "size_mb": _size_mb(bundle)}

            fp32 = Path(self._run_stage("export", _file_digest(ckpt), export)["bundle"])

        if "parity" in st:
            s = st["parity"] or {}

            def parity(folder: Path) -> dict[str, Any]:
                report = folder / "parity.json"
                argv = ["check", str(fp32), "--json", str(report), "--checkpoint", str(ckpt)]
                argv += ["--data", str(val)] if val else []
                argv += ["--limit", str(s["limit"])] if s.get("limit") else []
                rc = self._call("parity", argv, ok=(0, 1))
                return {"report": str(report), "pass": rc == 0}

            self._run_stage("parity", _file_digest(fp32 / "manifest.json"), parity)

        if "int8" in st:
            s = st["int8"] or {}

            def quantize(folder: Path) -> dict[str, Any]:
                bundle = folder / "bundle"
                argv = ["export", "--precision", "int8", "--checkpoint", str(ckpt), "--out", str(bundle)]
                argv += ["--backend", ",".join(s.get("backends", ["et", "litert", "onnx"]))]
                argv += ["--calib", str(spec["data"])] if spec.get("data") else []
                argv += ["--calib-count", str(s.get("calib_count", 32)), "--qat-steps", str(s.get("qat_steps", 0))]
                argv += ["--qat-lr", str(s["qat_lr"])] if s.get("qat_lr") is not None else []
                argv += ["--max-drop", str(s["max_drop"])] if s.get("max_drop") is not None else []
                argv += ["--keep-float", ",".join(s["keep_float"])] if s.get("keep_float") else []
                self._call("int8", argv)
                return {"bundle": str(bundle), "size_mb": _size_mb(bundle)}

            int8 = Path(self._run_stage("int8", _file_digest(ckpt), quantize)["bundle"])

        if "validate" in st:
            s = st["validate"] or {}

            def validate(folder: Path) -> dict[str, Any]:
                report = folder / "report"
                argv = ["validate", str(int8), "--out", str(report), "--checkpoint", str(ckpt)]
                argv += ["--max-drop", str(s.get("max_drop", 0.1))]
                argv += ["--data", str(val)] if val else []
                argv += ["--limit", str(s["limit"])] if s.get("limit") else []
                rc = self._call("validate", argv, ok=(0, 1))
                rows = json.loads((report / "report.json").read_text())
                return {"report": str(report), "pass": rc == 0, "drops": _drops(rows)}

            self._run_stage("validate", _file_digest(int8 / "manifest.json"), validate)

        if "bench" in st:
            s = st["bench"] or {}
            bundles = {k: v for k, v in (("fp32", fp32), ("int8", int8)) if v is not None}

            def bench(folder: Path) -> dict[str, Any]:
                rows = {}
                for precision, bundle in bundles.items():
                    manifest = json.loads((bundle / "manifest.json").read_text())
                    for backend in s.get("backends") or list(manifest["backends"]):
                        if not manifest["backends"].get(backend, {}).get("runnable", False):
                            continue
                        path = folder / f"{backend}-{precision}.json"
                        argv = ["bench", str(bundle), "--backend", backend, "--json", str(path)]
                        argv += ["--size", str(s.get("size", "720p")), "--threads", str(s.get("threads", 2))]
                        self._call("bench", [*argv, "--runs", str(s.get("runs", 5))])
                        r = json.loads(path.read_text())
                        rows[f"{backend}-{precision}"] = r["end_to_end"]["p50_ms"]
                return {"frame_p50_ms": rows}

            upstream = _digest([_file_digest(b / "manifest.json") for b in bundles.values()])
            self._run_stage("bench", upstream, bench)

        self.summary["final_checkpoint"] = str(ckpt)
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=2))
        (self.out / "summary.md").write_text(summary_markdown(self.summary))
        return self.summary

    def _finetune(self, folder: Path, ckpt: Path, s: dict[str, Any], val: str | None) -> dict[str, Any]:
        import yaml

        from edgevfi.checkpoint import save_checkpoint
        from edgevfi.train.loop import TrainConfig, Trainer

        settings: dict[str, Any] = {}
        if s.get("config"):
            settings = yaml.safe_load(Path(s["config"]).read_text()) or {}
        settings.update(s.get("settings") or {})
        run = folder / "run"
        settings.update({"init": str(ckpt), "out": str(run), "val": val})
        if s.get("steps"):
            settings["steps"] = int(s["steps"])
        if self.spec.get("data"):
            settings["data"] = str(self.spec["data"])
        trainer = Trainer(TrainConfig.from_dict(settings))
        trainer.train()
        best = run / "best.safetensors"
        if not best.is_file():  # no validation set: the last weights
            best = save_checkpoint(trainer.model, run / "last.safetensors")
        return {"checkpoint": str(best), "best_val_psnr": None if trainer.best == float("-inf") else trainer.best}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _size_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 2)


def _drops(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Backend → dataset → mean PSNR drop (dB), from a validate report."""
    return {
        backend: {name: d["drop"] for name, d in entry.get("datasets", {}).items()}
        for backend, entry in report.get("backends", {}).items()
        if entry.get("executed")
    }


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = [f"# Pipeline summary ({summary['out']})", "", f"source: `{summary.get('source')}`", ""]
    lines += ["| stage | status | seconds | result |", "| --- | --- | ---: | --- |"]
    for name in STAGES:
        r = summary["stages"].get(name)
        if r is None:
            continue
        shown = {k: v for k, v in r.items() if k not in ("status", "seconds")}
        lines.append(f"| {name} | {r['status']} | {r.get('seconds', '')} | `{json.dumps(shown)}` |")
    lines += ["", f"final checkpoint: `{summary.get('final_checkpoint')}`"]
    return "\n".join(lines) + "\n"
