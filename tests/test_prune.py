"""Structured pruning (Torch-Pruning): consistent shapes, a plain loadable config, exportable, CLI."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("torch_pruning")

from conftest import moving_pair, tiny_model

from edgevfi.checkpoint import load_checkpoint, save_checkpoint
from edgevfi.cli import main
from edgevfi.profile import count_macs
from quantize.prune import mac_ratio, prune_synthesis


@pytest.fixture(scope="module")
def triplets():
    out = []
    for seed in range(2):
        a, b = moving_pair(64, 96, dx=4, dy=-2, seed=seed)
        out.append((a, b, (a + b) / 2, 0.5))
    return out


@pytest.mark.parametrize("name", ["apr-s", "svmv-s"])
def test_pruning_keeps_shapes_consistent_and_multiples_of_8(name, triplets, tmp_path):
    model = tiny_model(name, width=32, inner=48)
    pruned = prune_synthesis(model, 0.5, triplets)
    assert pruned.config.width == 16 and pruned.config.inner == 24  # round(x·0.5) to multiples of 8
    synth = count_macs(pruned, (128, 192))["synthesis"] / count_macs(model, (128, 192))["synthesis"]
    assert synth < 0.6 and mac_ratio(pruned, model, (128, 192)) < 0.8
    # The motion stage is untouched, bit for bit.
    for k, v in model.state_dict().items():
        if k.startswith("flow."):
            assert torch.equal(pruned.state_dict()[k], v)
    a, b, _, _ = triplets[0]
    with torch.no_grad():
        out = pruned(a, b, 0.5)
    assert out.shape == a.shape and torch.isfinite(out).all()
    # A plain checkpoint: loads strictly from its JSON config alone and computes the same frame.
    path = save_checkpoint(pruned, tmp_path / "p.safetensors")
    again = load_checkpoint(path)
    with torch.no_grad():
        assert torch.equal(again(a, b, 0.5), out)


def test_importance_uses_the_data(triplets):
    """Taylor importance from different frames can keep different channels; magnitude (no data) cannot."""
    model = tiny_model("apr-s", width=32, inner=48)
    p1 = prune_synthesis(model, 0.5, triplets[:1])
    flat = [(torch.zeros_like(a), torch.zeros_like(b), torch.zeros_like(g), t) for a, b, g, t in triplets[:1]]
    p2 = prune_synthesis(model, 0.5, flat)
    w1, w2 = p1.encode.proj[0].weight, p2.encode.proj[0].weight
    assert w1.shape == w2.shape and not torch.equal(w1, w2)


def test_per_block_ratios_give_per_block_widths(triplets):
    model = tiny_model("apr-s", width=32, inner=48, blocks=3)
    pruned = prune_synthesis(model, 0.25, triplets, block_ratios=[0.0, 0.5, 0.75])
    assert pruned.config.width == 24 and pruned.config.inner == (48, 24, 8)  # 12 kept → down to a multiple of 8
    with pytest.raises(ValueError, match="block ratios"):
        prune_synthesis(model, 0.25, triplets, block_ratios=[0.5])
    with pytest.raises(ValueError, match="ratio"):
        prune_synthesis(model, 1.0, triplets)


def test_pruned_model_exports(triplets, tmp_path):
    pytest.importorskip("onnxruntime")
    from export.bundle import BundleBackend, load_bundle, write_bundle

    pruned = prune_synthesis(tiny_model("apr-s", width=32, inner=48), 0.5, triplets)
    bundle = write_bundle(
        pruned, tmp_path / "b", ["onnx"], model_name="pruned", canvas=(64, 96), tile=128, log=lambda *_: None
    )
    rt = BundleBackend(load_bundle(bundle, "onnx"), "onnx")
    from edgevfi.runtime import Runner

    a, b, _, _ = triplets[0]
    out = next(Runner(rt, overlap=rt.overlap).interpolate(a, b, [0.5]))
    assert out.shape == a.shape and torch.isfinite(out).all()


def test_prune_cli_writes_checkpoint_and_sweep(tmp_path, capsys):
    src = save_checkpoint(tiny_model("apr-s", width=32, inner=48), tmp_path / "src.safetensors")
    out = tmp_path / "p.safetensors"
    args = ["prune", "--checkpoint", str(src), "--data", "generated", "--count", "2"]
    assert main([*args, "--ratio", "0.5", "--out", str(out)]) == 0
    assert load_checkpoint(out).config.width == 16
    assert "× the MACs" in capsys.readouterr().out
    assert main([*args, "--ratio", "0.5", "--out", str(out)]) == 2  # exists, no --overwrite
    assert main([*args, "--ratio", "1.5", "--out", str(tmp_path / "q.safetensors")]) == 2
    assert "[0, 1)" in capsys.readouterr().err
    val = tmp_path / "val" / "seq"
    val.mkdir(parents=True)
    from PIL import Image

    a, b = moving_pair(64, 96, dx=4, dy=2)
    for i, img in enumerate((a, (a + b) / 2, b), 1):
        Image.fromarray((img[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(val / f"im{i}.png")
    sweep = tmp_path / "sweep"
    assert main([*args, "--sweep", "0.25,0.5", "--val", str(tmp_path / "val"), "--out", str(sweep)]) == 0
    rows = json.loads((sweep / "pareto.json").read_text())
    assert [r["ratio"] for r in rows] == [0.0, 0.25, 0.5]
    assert rows[0]["mac_ratio"] == 1.0 and rows[2]["mac_ratio"] < rows[1]["mac_ratio"] < 1.0
    assert all("val_psnr" in r for r in rows) and (sweep / "pareto.png").is_file()
