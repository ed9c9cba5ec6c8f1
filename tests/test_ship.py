"""scripts/ship_checkpoint.py: weights + card, and the motion transplant (--motion-from)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from conftest import tiny_model
from PIL import Image

from edgevfi.checkpoint import load_checkpoint, save_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ship_checkpoint.py"


def _ship(argv: list[str]) -> None:
    spec = importlib.util.spec_from_file_location("ship_checkpoint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(argv)


def _val_and_run(tmp_path: Path) -> Path:
    """A one-triplet val folder at ``tmp_path/val`` and a run folder with its config.json."""
    rng = np.random.default_rng(0)
    val = tmp_path / "val" / "seq"
    val.mkdir(parents=True)
    for i in (1, 2, 3):
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(val / f"im{i}.png")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "apr-s", "steps": 5}))
    return run


def test_motion_transplant_ships_one_models_synthesis_with_anothers_motion(tmp_path):
    run = _val_and_run(tmp_path)
    synthesis = save_checkpoint(tiny_model("apr-s"), run / "final.safetensors", extra={"step": 5})
    motion_model = tiny_model("apr-s")
    torch.manual_seed(1)
    for name, p in motion_model.named_parameters():
        if name.startswith("flow."):
            p.data.normal_()
    motion = save_checkpoint(motion_model, tmp_path / "motion.safetensors")
    weights = tmp_path / "weights"
    weights.mkdir()

    _ship([str(synthesis), "tiny", "--val", str(tmp_path / "val"), "--weights-dir", str(weights)])
    first = json.loads((weights / "tiny.json").read_text())
    assert first["motion_from"] is None and first["training"]["step"] == 5 and first["val"]["n"] == 1

    shipped = weights / "tiny.safetensors"
    _ship(
        [
            str(shipped),
            "tiny",
            "--motion-from",
            str(motion),
            "--val",
            str(tmp_path / "val"),
            "--weights-dir",
            str(weights),
        ]
    )
    card = json.loads((weights / "tiny.json").read_text())
    got = load_checkpoint(shipped).state_dict()
    src, mot = load_checkpoint(synthesis).state_dict(), motion_model.state_dict()
    assert all(torch.equal(v, (mot if k.startswith("flow.") else src)[k]) for k, v in got.items())
    assert any(not torch.equal(src[k], mot[k]) for k in src if k.startswith("flow."))  # really replaced
    assert card["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert card["motion_from"]["sha256"] == hashlib.sha256(motion.read_bytes()).hexdigest()
    assert card["motion_from"]["replaced"] == {"sha256": first["sha256"], "val": first["val"]}
    assert card["training"] == first["training"]  # re-shipping in place keeps the synthesis's training record


def test_reship_with_a_motion_adaptive_canvas_keeps_tensors_and_records(tmp_path):
    run = _val_and_run(tmp_path)
    src = save_checkpoint(tiny_model("apr-s"), run / "final.safetensors", extra={"step": 5})
    weights = tmp_path / "weights"
    common = ["--val", str(tmp_path / "val"), "--weights-dir", str(weights)]
    _ship([str(src), "tiny", *common])
    first = json.loads((weights / "tiny.json").read_text())
    assert first["motion_canvas"]["fine_canvas_side"] == 0 and first["settings_changed"] is None

    shipped = weights / "tiny.safetensors"
    _ship([str(shipped), "tiny", "--fine-canvas", "1280", *common])
    card = json.loads((weights / "tiny.json").read_text())
    model = load_checkpoint(shipped)
    assert model.config.fine_canvas_side == 1280 and card["motion_canvas"]["fine_canvas_side"] == 1280
    before = load_checkpoint(src).state_dict()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert card["settings_changed"]["fine_canvas_side"] == {"from": 0, "to": 1280}
    assert card["settings_changed"]["replaced"] == {"sha256": first["sha256"], "val": first["val"]}
    assert card["training"] == first["training"] and card["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert card["macs_720p"]["total_fine"] > card["macs_720p"]["total"]

    # The canvas upscale is one more such setting: recorded from-to, the tensors untouched.
    _ship([str(shipped), "tiny", "--fine-canvas-upscale", "2", *common])
    card = json.loads((weights / "tiny.json").read_text())
    model = load_checkpoint(shipped)
    assert model.config.fine_canvas_upscale == 2.0 and card["motion_canvas"]["fine_canvas_upscale"] == 2.0
    assert card["settings_changed"]["fine_canvas_upscale"] == {"from": 1.0, "to": 2.0}
    assert "fine_canvas_side" not in card["settings_changed"]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())

    # The flow consensus too (a field of the family's config, not ModelConfig's): its "from" is the
    # family's default.
    _ship([str(shipped), "tiny", "--motion-consensus", "on", *common])
    card = json.loads((weights / "tiny.json").read_text())
    model = load_checkpoint(shipped)
    assert model.config.motion_consensus and card["motion_canvas"]["motion_consensus"] is True
    assert card["settings_changed"]["motion_consensus"] == {"from": False, "to": True}
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_card_lineage_is_flat_and_follows_the_init_weights(tmp_path):
    """Each shipped run lists the runs before it by the sha256 of its init, newest first, never nested."""
    run = _val_and_run(tmp_path)
    weights = tmp_path / "weights"
    common = ["--val", str(tmp_path / "val"), "--weights-dir", str(weights)]
    shipped = weights / "tiny.safetensors"

    def ship_run(seed: int, init: Path | None, recorded: str | None = None) -> dict:
        torch.manual_seed(seed)
        ckpt = save_checkpoint(tiny_model("apr-s"), run / "final.safetensors", extra={"step": seed})
        (run / "config.json").write_text(json.dumps({"model": "apr-s", "init": str(init) if init else None}))
        (run / "init.json").write_text(json.dumps({"init_sha256": recorded} if recorded else {}))
        _ship([str(ckpt), "tiny", *common])
        return json.loads((weights / "tiny.json").read_text())

    a = ship_run(1, None)
    assert a["lineage"] == [] and a["training"]["init_sha256"] is None
    a_copy = tmp_path / "a.safetensors"
    a_copy.write_bytes(shipped.read_bytes())
    b = ship_run(2, shipped)  # fine-tunes the shipped file it then replaces
    entry = {k: a[k] for k in ("sha256", "training", "val")}
    assert b["training"]["init_sha256"] == a["sha256"] and b["lineage"] == [entry]
    c = ship_run(3, shipped)
    assert [e["sha256"] for e in c["lineage"]] == [b["sha256"], a["sha256"]]
    d = ship_run(4, a_copy)  # started from an older shipped checkpoint: b and c are not its history
    assert d["lineage"] == [entry]
    # The digest a run recorded when it began (init.json) wins over the file at its init path now.
    assert ship_run(6, shipped, recorded=a["sha256"])["lineage"] == [entry]

    # A card in the older nested layout (training.init_from) is read and rewritten flat.
    nested = dict(
        c,
        training={
            **c["training"],
            "init_from": {**c["lineage"][0], "training": {**c["lineage"][0]["training"], "init_from": c["lineage"][1]}},
        },
    )
    del nested["lineage"]
    (weights / "tiny.json").write_text(json.dumps(nested))
    e = ship_run(5, a_copy)
    assert e["lineage"] == [entry]
    (weights / "tiny.json").write_text(json.dumps(nested))
    _ship([str(shipped), "tiny", "--fine-canvas", "1280", *common])
    reship = json.loads((weights / "tiny.json").read_text())
    assert reship["training"] == c["training"] and reship["lineage"] == c["lineage"]


def test_card_describes_a_device_pack_as_the_runs_footage(tmp_path):
    """A run on a lent GPU trained on scripts/pack_device_data.py's pack: the card says so, from pack.json."""
    run = _val_and_run(tmp_path)
    weights = tmp_path / "weights"
    common = ["--val", str(tmp_path / "val"), "--weights-dir", str(weights)]
    ckpt = save_checkpoint(tiny_model("apr-s"), run / "final.safetensors", extra={"step": 5})
    _ship([str(ckpt), "tiny", *common])
    assert json.loads((weights / "tiny.json").read_text())["training"]["data"].startswith(
        "real footage: ../shared/data/train (63 clips)"
    )
    pack = tmp_path / "pack" / "data"
    pack.mkdir(parents=True)
    fields = {"source": "../shared/data", "train_clips": 38, "train_clips_in_source": 63, "videos": 8}
    (pack / "pack.json").write_text(json.dumps({**fields, "max_side": 640, "codec": "x264 CRF 19"}))
    (run / "config.json").write_text(json.dumps({"model": "apr-s", "data": str(pack)}))
    _ship([str(ckpt), "tiny", *common])
    data = json.loads((weights / "tiny.json").read_text())["training"]["data"]
    assert "38 of the 63 clips of ../shared/data/train + 8 clips" in data and "640 px" in data
