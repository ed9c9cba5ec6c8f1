"""Ship a trained checkpoint as a registry model: weights + a model card (JSON), both reproducible.

    python scripts/ship_checkpoint.py runs/apr-s/best.safetensors apr-s [--val ../shared/data/val]

Copies the weights to ``edgevfi/weights/<name>.safetensors`` (atomically) and writes
``edgevfi/weights/<name>.json``: parameters, MACs at 720p, training run (config, steps, data), and
PSNR/SSIM on the val set measured here through the tiled Runner.

    python scripts/ship_checkpoint.py edgevfi/weights/svmv-s.safetensors svmv-s \
        --motion-from edgevfi/weights/apr-s.safetensors

ships a model with its motion stage (``flow.*``) replaced by another checkpoint's: every model family
shares the same FlowPyramid, and the synthesis stages measured robust to the flow they are fed
(``benchmarks/motion_oracle.py``), so a motion stage trained further for one model serves the others.
The card records both sources; re-shipping a shipped model this way keeps its training record.

    python scripts/ship_checkpoint.py edgevfi/weights/apr-s.safetensors apr-s --fine-canvas 1280

sets an inference setting kept in the shipped config (here the motion-adaptive canvas,
``ModelConfig.fine_canvas_side``; no tensor changes) and re-measures the card with it;
``--fine-canvas-upscale 2`` likewise sets how far that canvas may exceed a small frame
(``ModelConfig.fine_canvas_upscale``), and ``--motion-consensus on`` the flow consensus after the last
motion block (``MotionConfig.motion_consensus``).

The card's ``training`` is the run that made the weights; ``lineage`` lists the runs before it, newest
first, each as ``{"sha256", "training", "val"}`` of the weights it shipped. A run's start point is found by
the sha256 of its ``init`` weights (as the run recorded them in ``init.json`` when it began) among the shipped
card and its lineage, so a run started from an older
shipped checkpoint gets that checkpoint's history (cards written before the sixteenth session nested it
under ``training.init_from``; they are read and rewritten flat).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from edgevfi import models
from edgevfi.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from edgevfi.evaluate import evaluate
from edgevfi.io import atomic_output, sha256_file
from edgevfi.profile import count_macs, count_params
from edgevfi.runtime import EagerBackend, Runner
from edgevfi.train.loop import with_motion_stage


def card_history(card: dict | None) -> list[dict]:
    """The card's own run followed by its lineage, newest first, flat (also from the older nested cards)."""
    if not card:
        return []
    history = []
    entry: dict | None = {k: card.get(k) for k in ("sha256", "training", "val")}
    while entry:
        training = dict(entry.get("training") or {})
        nested = training.pop("init_from", None)
        history.append({"sha256": entry.get("sha256"), "training": training, "val": entry.get("val")})
        entry = nested
    return history + list(card.get("lineage") or [])


def lineage_from(history: list[dict], init_sha256: str | None) -> list[dict]:
    """The runs that led to the weights with ``init_sha256`` (that one first), or [] if none shipped them."""
    shas = [h["sha256"] for h in history]
    return history[shas.index(init_sha256) :] if init_sha256 in shas else []


def training_data(run_cfg: dict) -> str:
    """The card's description of a run's footage: the shared data, or a pack made from it for a GPU."""
    data = Path(run_cfg.get("data") or "../shared/data")
    pack = data / "pack.json"  # scripts/pack_device_data.py
    if pack.is_file():
        p = json.loads(pack.read_text())
        return (
            f"real footage: {p['train_clips']} of the {p['train_clips_in_source']} clips of {p['source']}/train "
            f"+ {p['videos']} clips of {p['source']}/videos, re-encoded at {p['max_side']} px ({p['codec']}) by "
            "scripts/pack_device_data.py for a lent GPU; never the val set"
        )
    return (
        "real footage: ../shared/data/train (63 clips) + ../shared/data/videos (8 clips after "
        "excluding footage that overlaps evaluation benchmarks); never the val set"
    )


def main(argv: list[str] | None = None) -> None:
    """Ship ``checkpoint`` as ``name``: weights and card into ``--weights-dir`` (the package's by default)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("name", help="registry name, e.g. apr-s")
    p.add_argument("--motion-from", help="replace the motion stage (flow.*) by this checkpoint's")
    p.add_argument(
        "--fine-canvas", type=int, help="ship with this motion-adaptive canvas side (config.fine_canvas_side; 0: off)"
    )
    p.add_argument(
        "--fine-canvas-upscale",
        type=float,
        help="ship with the motion-adaptive canvas allowed up to this × the frame "
        "(config.fine_canvas_upscale; 1: never above)",
    )
    p.add_argument(
        "--motion-consensus",
        choices=("on", "off"),
        help="ship with the flow consensus after the last motion block on or off (config.motion_consensus)",
    )
    p.add_argument("--val", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val"))
    p.add_argument("--weights-dir", default=str(models.WEIGHTS_DIR), help="where to write (default: the package's)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    src = Path(args.checkpoint)
    model = load_checkpoint(src)
    meta = read_metadata(src)
    motion_from = None
    if args.motion_from:
        model = with_motion_stage(model, args.motion_from)
        motion_from = {"path": args.motion_from, "sha256": sha256_file(args.motion_from)}
    if args.fine_canvas_upscale is not None and args.fine_canvas_upscale < 1.0:
        p.error(f"--fine-canvas-upscale must be >= 1, got {args.fine_canvas_upscale}")
    requested = {
        "fine_canvas_side": args.fine_canvas,
        "fine_canvas_upscale": args.fine_canvas_upscale,
        "motion_consensus": None if args.motion_consensus is None else args.motion_consensus == "on",
    }
    changes = {k: v for k, v in requested.items() if v is not None and v != getattr(model.config, k)}
    settings_changed = bool(changes)
    if settings_changed:
        model = models.with_config(model, **changes)
    run_dir = src.parent
    run_cfg = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
    # Settings changed on resume (edgevfi.train.loop): config.json holds the final ones, this the history.
    changes_path = run_dir / "config_changes.json"
    config_changes = json.loads(changes_path.read_text()) if changes_path.exists() else []
    result = evaluate(Runner(EagerBackend(model)), args.val, args.name)
    macs = count_macs(model, (720, 1280))
    dst = Path(args.weights_dir) / f"{args.name}.safetensors"
    dst.parent.mkdir(parents=True, exist_ok=True)
    old_card = dst.with_suffix(".json")
    old = json.loads(old_card.read_text()) if old_card.exists() else None
    history = card_history(old)
    # Re-shipping the shipped file itself (a motion transplant): its training record is the old card's.
    reship = old is not None and src.resolve() == dst.resolve()
    # Digests of the start weights: as the run recorded them when it began (edgevfi.train.loop writes
    # init.json), else of the files at the configured paths now.
    recorded = json.loads((run_dir / "init.json").read_text()) if (run_dir / "init.json").exists() else {}
    starts = {
        k: recorded.get(f"{k}_sha256")
        or (sha256_file(run_cfg[k]) if run_cfg.get(k) and Path(run_cfg[k]).is_file() else None)
        for k in ("init", "init_motion")
    }
    init_sha256 = starts["init"]
    # A run that fine-tuned shipped weights (often the very file it now overwrites) keeps their history.
    lineage = history[1:] if reship else lineage_from(history, init_sha256)
    if motion_from and reship:
        motion_from["replaced"] = {"sha256": old.get("sha256"), "val": old.get("val")}
    elif reship:
        motion_from = old.get("motion_from")  # a settings-only re-ship keeps the transplant's record
    settings = None
    if settings_changed:
        # A setting absent from an older checkpoint's config had the field's default.
        defaults = type(model.config)()
        settings = {
            **{k: {"from": meta["config"].get(k, getattr(defaults, k)), "to": v} for k, v in changes.items()},
            "replaced": {"sha256": old.get("sha256"), "val": old.get("val")} if reship else None,
        }
    if motion_from or settings_changed:
        save_checkpoint(model, dst, extra=meta.get("extra"))
    else:
        with atomic_output(dst) as tmp:
            shutil.copyfile(src, tmp)
    card = {
        "name": args.name,
        "family": model.config.family,
        "params": count_params(model),
        "macs_720p": macs,
        "motion_canvas": {
            "max_canvas_side": model.config.max_canvas_side,
            "fine_canvas_side": model.config.fine_canvas_side,
            "fine_canvas_upscale": model.config.fine_canvas_upscale,
            "motion_consensus": getattr(model.config, "motion_consensus", False),
        },
        "sha256": sha256_file(dst),
        "motion_from": motion_from,
        "settings_changed": settings,
        "training": history[0]["training"]
        if reship
        else {
            "run": str(run_dir),
            "step": meta.get("extra", {}).get("step"),
            "config": run_cfg,
            "config_changes": config_changes,
            "init_sha256": init_sha256,
            # A motion-stage warm start (TrainConfig.init_motion): which weights it copied.
            "init_motion_sha256": starts["init_motion"],
            "data": training_data(run_cfg),
        },
        "val": {
            "data": "../shared/data/val (21 real triplets, 8-bit-rounded RGB, tiled Runner)",
            "psnr": result["mean_psnr"],
            "ssim": result["mean_ssim"],
            "n": result["n"],
        },
        "measured": time.strftime("%Y-%m-%d"),
        "lineage": lineage,
    }
    with atomic_output(dst.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("name", "params", "val")}, indent=2))


if __name__ == "__main__":
    main()
