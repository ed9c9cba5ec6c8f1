"""Training loop: a short run on generated data lowers the loss and resumes bit-exactly."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY, tiny_model

from edgevfi import models
from edgevfi.train.loop import TrainConfig, Trainer


class MovingTextures:
    """Generated triplets: a smooth texture translating by (dx, dy) per frame; item = f(idx)."""

    def __getitem__(self, idx: int) -> dict:
        g = torch.Generator().manual_seed(idx)
        dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=g))
        tex = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(64, 64), mode="bicubic")
        tex = tex.clamp(0, 1)[0]

        def crop(k: int) -> torch.Tensor:
            return tex[:, 8 + k * dy : 56 + k * dy, 8 + k * dx : 56 + k * dx]

        return {"img0": crop(0), "gt": crop(1), "img1": crop(2), "t": 0.5}


def _config(tmp_path, steps: int, model: str = "apr-s") -> TrainConfig:
    family = "apr" if model.startswith("apr") else "svmv"
    return TrainConfig(
        model=model,
        model_overrides=dict(TINY[family]),
        out=str(tmp_path / "run"),
        steps=steps,
        batch=2,
        crop=48,
        lr=2e-3,
        warmup=2,
        log_every=5,
        val=None,
        threads=1,
        seed=0,
    )


def _fixed_batch_loss(model: torch.nn.Module) -> float:
    data = MovingTextures()
    items = [data[10_000 + i] for i in range(4)]
    batch = {k: torch.stack([it[k] for it in items]) for k in ("img0", "img1", "gt")}
    with torch.no_grad():
        pred = model(batch["img0"], batch["img1"], torch.full((4,), 0.5))
    return float((pred - batch["gt"]).abs().mean())


@pytest.mark.parametrize("model", ["apr-s", "svmv-s"])
def test_short_run_lowers_loss(tmp_path, model):
    trainer = Trainer(_config(tmp_path, 40, model), dataset=MovingTextures())
    before = _fixed_batch_loss(trainer.model.eval())
    trainer.model.train()
    trainer.train()
    assert trainer.step == 40
    after = _fixed_batch_loss(trainer.model.eval())
    assert after < 0.9 * before, (before, after)
    assert (tmp_path / "run" / "last.pt").exists() and (tmp_path / "run" / "losses.csv").exists()


def test_resume_is_bit_exact(tmp_path):
    straight = Trainer(_config(tmp_path / "a", 12, "svmv-s"), dataset=MovingTextures())
    straight.train()
    interrupted = Trainer(_config(tmp_path / "b", 12, "svmv-s"), dataset=MovingTextures())
    interrupted.train(steps=5)
    del interrupted
    resumed = Trainer(_config(tmp_path / "b", 12, "svmv-s"), dataset=MovingTextures())
    assert resumed.step == 5
    resumed.train()
    for (k, v), (_, w) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


def test_loader_threads_make_the_same_batches_and_weights(tmp_path):
    """Prefetching items in threads changes nothing but speed, also across train() calls."""
    plain = Trainer(_config(tmp_path / "a", 8, "svmv-s"), dataset=MovingTextures())
    plain.train()
    cfg = replace(_config(tmp_path / "b", 8, "svmv-s"), loader_threads=3)
    threaded = Trainer(cfg, dataset=MovingTextures())
    threaded.train(steps=3)  # a chunk, then the rest: the prefetched steps of the first call are dropped
    batches = threaded.batches()
    first = next(batches)
    batches.close()
    items = [MovingTextures()[3 * cfg.batch + i] for i in range(cfg.batch)]
    assert torch.equal(first["img0"], torch.stack([it["img0"] for it in items]))
    threaded.train()
    assert threaded.step == plain.step == 8
    for (k, v), (_, w) in zip(plain.model.state_dict().items(), threaded.model.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


def test_resume_with_changed_settings_records_them(tmp_path):
    """A resume with a shorter cosine rewrites config.json and keeps the old value with its step."""
    import json

    run = tmp_path / "run"
    first = Trainer(_config(tmp_path, 12), dataset=MovingTextures())
    first.train(steps=3)
    del first
    assert json.loads((run / "config.json").read_text())["steps"] == 12
    assert not (run / "config_changes.json").exists()
    resumed = Trainer(_config(tmp_path, 8), dataset=MovingTextures())
    assert resumed.step == 3
    assert json.loads((run / "config.json").read_text())["steps"] == 8
    history = json.loads((run / "config_changes.json").read_text())
    assert [(h["step"], h["changed"]) for h in history] == [(3, {"steps": [12, 8]})]
    assert "setting steps changed on resume at step 3: 12 -> 8" in (run / "log.txt").read_text()
    again = Trainer(_config(tmp_path, 8), dataset=MovingTextures())  # same settings: nothing new recorded
    del again
    assert len(json.loads((run / "config_changes.json").read_text())) == 1


def test_resume_compares_settings_missing_from_an_older_config_with_their_defaults(tmp_path):
    """A run started before a setting existed used its default: a resume with another value records it."""
    import json

    run = tmp_path / "run"
    first = Trainer(_config(tmp_path, 12), dataset=MovingTextures())
    first.train(steps=2)
    del first
    stored = json.loads((run / "config.json").read_text())
    del stored["half_canvas_prob"]  # as written by code older than that setting
    (run / "config.json").write_text(json.dumps(stored))
    same = Trainer(_config(tmp_path, 12), dataset=MovingTextures())  # defaults: nothing changed
    del same
    assert not (run / "config_changes.json").exists()
    assert json.loads((run / "config.json").read_text())["half_canvas_prob"] == 0.5  # completed
    stored = json.loads((run / "config.json").read_text())
    del stored["half_canvas_prob"]
    (run / "config.json").write_text(json.dumps(stored))
    cfg = _config(tmp_path, 12)
    cfg.half_canvas_prob = 0.0
    Trainer(cfg, dataset=MovingTextures())
    history = json.loads((run / "config_changes.json").read_text())
    assert [h["changed"] for h in history] == [{"half_canvas_prob": [0.5, 0.0]}]


def test_end_of_schedule_is_validated_and_kept_as_final(tmp_path):
    """A cosine whose length is not a multiple of val_every still ends scored, in final.safetensors."""

    import numpy as np
    from PIL import Image

    from edgevfi.checkpoint import load_checkpoint, read_metadata

    seq = tmp_path / "val" / "seq"
    seq.mkdir(parents=True)
    item = MovingTextures()[0]
    for name, key in (("im1", "img0"), ("im2", "gt"), ("im3", "img1")):
        arr = (item[key].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(seq / f"{name}.png")
    cfg = _config(tmp_path, 7)
    cfg.val, cfg.val_every = str(tmp_path / "val"), 5
    trainer = Trainer(cfg, dataset=MovingTextures())
    trainer.train()
    run = tmp_path / "run"
    assert [line.split(",")[0] for line in (run / "val.csv").read_text().split()] == ["5", "7"]
    meta = read_metadata(run / "final.safetensors")["extra"]
    assert meta["step"] == 7 and meta["val_psnr"] == pytest.approx(trainer.last_val[1])
    final = load_checkpoint(run / "final.safetensors")
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(final.state_dict()[k], v.cpu()), k


def test_teacher_conversion_of_middle_flows():
    """Uniform motion d: the middle frame sees F_t0 = −d/2, F_t1 = +d/2, so F01 = d and F10 = −d."""
    from edgevfi.train.teacher import bidirectional_from_middle, flow_to_motion_grid

    d = torch.tensor([4.0, -2.0]).view(1, 2, 1, 1)
    ft0, ft1 = (-d / 2).expand(1, 2, 16, 20), (d / 2).expand(1, 2, 16, 20)
    f01, v0, f10, v1 = bidirectional_from_middle(ft0, ft1)
    inner = (slice(None), slice(None), slice(3, 13), slice(3, 17))
    assert torch.allclose(f01[inner], d.expand_as(f01)[inner], atol=1e-5)
    assert torch.allclose(f10[inner], (-d).expand_as(f10)[inner], atol=1e-5)
    assert v0[inner].min() == 1 and v0[..., :, -1].max() == 0  # frame 0 moves right: last column lands outside
    assert v1[inner].min() == 1 and v1[..., :, 0].max() == 0
    grid = flow_to_motion_grid(f01, (8, 10), (32, 40))  # image 16×20 → canvas 32×40, motion grid 8×10
    assert torch.allclose(grid[..., 3, 4], torch.tensor([[8.0, -4.0]]), atol=1e-4)


def _train_and_compare(cfg: TrainConfig) -> tuple[set[str], list[str]]:
    """Train ``cfg`` on generated data: the state-dict entries that changed, and the loss CSV's columns."""
    import csv

    trainer = Trainer(cfg, dataset=MovingTextures())
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    after = trainer.model.state_dict()
    with open(Path(cfg.out) / "losses.csv") as f:
        columns = next(csv.reader(f))
    return {k for k in before if not torch.equal(before[k], after[k])}, columns


def test_motion_only_training_changes_only_the_motion_stage(tmp_path):
    """train_parts: motion optimises flow.* on the motion terms alone; the synthesis is left bit-identical."""
    cfg = _config(tmp_path, 6)
    cfg.train_parts, cfg.motion_photometric_weight = "motion", 1.0
    changed, columns = _train_and_compare(cfg)
    assert changed and all(k.startswith("flow.") for k in changed), sorted(changed)[:5]
    assert "tv" in columns and "rec" not in columns  # the synthesis was not run
    cfg.train_parts = "all"  # resuming the same run with other trained parameters: a clear error
    with pytest.raises(ValueError, match="train_parts changed"):
        Trainer(cfg, dataset=MovingTextures())


def test_synthesis_only_training_leaves_the_motion_stage_bit_identical(tmp_path):
    """train_parts: synthesis optimises everything but flow.* on the reconstruction terms."""
    cfg = _config(tmp_path, 4)
    cfg.train_parts, cfg.motion_photometric_weight, cfg.distill_weight = "synthesis", 0.0, 0.0
    changed, columns = _train_and_compare(cfg)
    assert changed and not any(k.startswith("flow.") for k in changed), sorted(changed)[:5]
    assert "rec" in columns and "tv" not in columns


def test_motion_e2e_training_fits_the_flow_through_the_frozen_synthesis(tmp_path):
    """train_parts: motion-e2e runs the whole model but optimises flow.* alone, on the reconstruction
    terms as well as the motion terms: with the motion terms off, the flow still moves."""
    cfg = _config(tmp_path, 4)
    cfg.train_parts, cfg.motion_photometric_weight, cfg.distill_weight = "motion-e2e", 0.0, 0.0
    changed, columns = _train_and_compare(cfg)
    assert changed and all(k.startswith("flow.") for k in changed), sorted(changed)[:5]
    assert "rec" in columns and "route" not in columns  # the synthesis ran; its frozen router is not trained


def test_rates_written_without_a_dot_are_read_as_numbers():
    """PyYAML reads ``lr: 2e-5`` as the string "2e-5": the config takes it as the number it means."""
    cfg = TrainConfig.from_dict(yaml.safe_load("lr: 2e-5\nlr_min: 1e-6\nsteps: 10\n"))
    assert cfg.lr == 2e-5 and cfg.lr_min == 1e-6 and cfg.steps == 10
    with pytest.raises(ValueError, match="lr: 'fast' is not a number"):
        TrainConfig.from_dict({"lr": "fast"})


def test_unknown_or_empty_train_parts_are_rejected(tmp_path):
    cfg = _config(tmp_path, 2)
    cfg.train_parts = "decoder"
    with pytest.raises(ValueError, match="unknown train_parts"):
        Trainer(cfg, dataset=MovingTextures())
    cfg.train_parts, cfg.motion_photometric_weight = "motion", 0.0
    with pytest.raises(ValueError, match="needs distill_weight"):
        Trainer(cfg, dataset=MovingTextures())
    cfg.train_parts, cfg.motion_photometric_weight = "synthesis", 0.05  # a motion term on a frozen motion stage
    with pytest.raises(ValueError, match="freezes the motion stage"):
        Trainer(cfg, dataset=MovingTextures())


def test_grown_model_trains_only_its_new_motion_block(tmp_path):
    """init + model_overrides grows the model; train_parts new-motion leaves every init tensor bit-identical."""
    from edgevfi.checkpoint import save_checkpoint
    from edgevfi.models import create

    torch.manual_seed(0)
    start = create("apr-s", **TINY["apr"])
    init = save_checkpoint(start, tmp_path / "init.safetensors")
    cfg = _config(tmp_path, 4)
    cfg.init, cfg.model_overrides = str(init), {"motion_widths": [8, 8, 8, 8]}
    cfg.train_parts, cfg.motion_photometric_weight = "new-motion", 1.0
    trainer = Trainer(cfg, dataset=MovingTextures())
    assert trainer.new_tensors and all(k.startswith("flow.blocks.3.") for k in trainer.new_tensors)
    # The run records its start weights' digest as they are now (model cards trace lineage by it).
    recorded = json.loads((Path(cfg.out) / "init.json").read_text())
    assert recorded == {"init_sha256": hashlib.sha256(init.read_bytes()).hexdigest()}
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and changed <= set(trainer.new_tensors), sorted(changed - set(trainer.new_tensors))[:3]
    cfg.model_overrides = {}  # nothing grown: nothing new to train
    with pytest.raises(ValueError, match="no new motion tensors"):
        Trainer(cfg, dataset=MovingTextures())


def test_new_lr_scale_steps_grown_tensors_at_their_own_rate(tmp_path):
    """new_lr_scale puts a grown model's new tensors in their own optimiser group at lr × scale; the
    schedule keeps the ratio, and a run resumed from its checkpoint keeps the groups."""
    from edgevfi.checkpoint import save_checkpoint
    from edgevfi.models import create

    torch.manual_seed(0)
    init = save_checkpoint(create("apr-s", **TINY["apr"]), tmp_path / "init.safetensors")
    cfg = _config(tmp_path, 3)
    cfg.init, cfg.model_overrides, cfg.new_lr_scale = str(init), {"motion_match_blocks": 1}, 10.0
    cfg.train_parts, cfg.motion_photometric_weight = "motion", 1.0
    trainer = Trainer(cfg, dataset=MovingTextures())
    new = {id(p) for n, p in trainer.model.named_parameters() if n in set(trainer.new_tensors)}
    old, grown = trainer.opt.param_groups
    assert {id(p) for p in grown["params"]} == new and not new & {id(p) for p in old["params"]}
    trainer.train()
    assert grown["lr"] == pytest.approx(10.0 * old["lr"]) and old["lr"] > 0
    trainer.save()
    resumed = Trainer(cfg, dataset=MovingTextures())
    assert [g["lr_scale"] for g in resumed.opt.param_groups] == [1.0, 10.0]


def test_fast_prefixes_put_trained_tensors_in_the_scaled_group(tmp_path):
    """fast_prefixes: tensors the checkpoint already had join the new_lr_scale group by name prefix;
    without a grown model the run has those two groups all the same."""
    from edgevfi.checkpoint import save_checkpoint
    from edgevfi.models import create

    torch.manual_seed(0)
    init = save_checkpoint(create("apr-s", **TINY["apr"]), tmp_path / "init.safetensors")
    cfg = _config(tmp_path, 1)
    cfg.init, cfg.new_lr_scale, cfg.fast_prefixes = str(init), 10.0, ("flow.blocks.0.flow.",)
    cfg.train_parts, cfg.motion_photometric_weight = "motion", 1.0
    trainer = Trainer(cfg, dataset=MovingTextures())
    fast = {id(p) for n, p in trainer.model.named_parameters() if n.startswith("flow.blocks.0.flow.")}
    old, scaled = trainer.opt.param_groups
    assert len(fast) == 2 and {id(p) for p in scaled["params"]} == fast and scaled["lr_scale"] == 10.0
    assert not fast & {id(p) for p in old["params"]}


def test_stage_distillation_scores_every_motion_block_against_the_teacher(tmp_path):
    """distill_stage_weights adds each earlier block's EPE (on its own grid) to the motion-only loss."""
    from edgevfi.models import create
    from edgevfi.models.base import default_canvas
    from edgevfi.ops.tiles import resize_to
    from edgevfi.train.loop import compute_loss

    torch.manual_seed(0)
    model = create("apr-s", **TINY["apr"])
    item = MovingTextures()[3]
    batch = {k: torch.stack([item[k]] * 2) for k in ("img0", "img1", "gt")} | {"t": torch.full((2,), 0.5)}

    def teacher(img0, img1):  # the textures' true motion: a constant shift (frame px), valid everywhere
        f01 = torch.tensor([2.0, -2.0]).view(1, 2, 1, 1).expand(img0.shape[0], 2, *img0.shape[-2:])
        ones = torch.ones_like(f01[:, :1])
        return f01, ones, -f01, ones

    cfg = TrainConfig(train_parts="motion", distill_weight=1.0, motion_photometric_weight=0.0, half_canvas_prob=0.0)
    plain, parts = compute_loss(model, batch, cfg, torch.Generator().manual_seed(0), teacher)
    cfg.distill_stage_weights = (0.5, 0.25)
    staged, staged_parts = compute_loss(model, batch, cfg, torch.Generator().manual_seed(0), teacher)
    assert "distill_stages" not in parts and staged_parts["distill"] == pytest.approx(parts["distill"])

    H, W = batch["img0"].shape[-2:]
    canvas = default_canvas((H, W), max(H, W), model.config.canvas_multiple)
    with torch.no_grad():
        coarse = model.flow.stage_flows(resize_to(batch["img0"], canvas), resize_to(batch["img1"], canvas))[:-1]
    expected = 0.0
    target = torch.tensor([2.0 * canvas[1] / W, -2.0 * canvas[0] / H]).view(1, 2, 1, 1)  # canvas px
    for w, f in zip((0.5, 0.25), coarse, strict=True):
        epe01 = (f[:2] - target).pow(2).sum(1).add(1e-6).sqrt().mean()
        epe10 = (f[2:] + target).pow(2).sum(1).add(1e-6).sqrt().mean()
        expected += w * 0.5 * (epe01 + epe10)
    assert staged_parts["distill_stages"] == pytest.approx(float(expected), rel=1e-4)
    assert staged.item() == pytest.approx(plain.item() + float(expected), rel=1e-4)
    staged.backward()
    assert model.flow.blocks[0].parameters().__next__().grad.abs().sum() > 0

    bad = _config(tmp_path, 2)
    bad.train_parts, bad.distill_weight, bad.distill_stage_weights = "motion", 1.0, (1.0,)
    with pytest.raises(ValueError, match="one per block before the last: 2"):
        Trainer(bad, dataset=MovingTextures())
    bad.train_parts, bad.distill_stage_weights = "all", (1.0, 1.0)
    with pytest.raises(ValueError, match="train_parts motion"):
        Trainer(bad, dataset=MovingTextures())


def test_robust_distillation_is_the_log_of_each_pixels_end_point_error():
    """distill_robust_px = c scores each pixel's EPE e as c·log(1 + e/c): large errors weigh less."""
    from edgevfi.models import create
    from edgevfi.models.base import default_canvas
    from edgevfi.ops.tiles import resize_to
    from edgevfi.train.loop import compute_loss

    torch.manual_seed(0)
    model = create("apr-s", **TINY["apr"])
    item = MovingTextures()[3]
    batch = {k: item[k][None] for k in ("img0", "img1", "gt")} | {"t": torch.full((1,), 0.5)}
    H, W = batch["img0"].shape[-2:]
    canvas = default_canvas((H, W), max(H, W), model.config.canvas_multiple)
    scale = torch.tensor([canvas[1] / W, canvas[0] / H]).view(1, 2, 1, 1)

    def teacher(img0, img1):  # a constant shift of (6, -4) frame px, valid everywhere
        f01 = torch.tensor([6.0, -4.0]).view(1, 2, 1, 1).expand(img0.shape[0], 2, *img0.shape[-2:])
        ones = torch.ones_like(f01[:, :1])
        return f01, ones, -f01, ones

    with torch.no_grad():
        m0, m1 = model.motion(resize_to(batch["img0"], canvas), resize_to(batch["img1"], canvas))
    target = torch.tensor([6.0, -4.0]).view(1, 2, 1, 1) * scale
    epe = [(m[:, :2] - sign * target).pow(2).sum(1).add(1e-6).sqrt() for m, sign in ((m0, 1), (m1, -1))]
    cfg = TrainConfig(train_parts="motion", distill_weight=1.0, motion_photometric_weight=0.0, half_canvas_prob=0.0)
    scores = {}
    for c in (0.0, 1.0, 4.0):
        cfg.distill_robust_px = c
        _, parts = compute_loss(model, batch, cfg, torch.Generator().manual_seed(0), teacher)
        expected = sum((e if c == 0 else c * torch.log1p(e / c)).mean() for e in epe) / 2
        assert parts["distill"] == pytest.approx(float(expected), rel=1e-4)
        scores[c] = parts["distill"]
    assert scores[1.0] < scores[4.0] < scores[0.0]


def test_motion_transplant_brings_the_donors_motion_config(tmp_path):
    """with_motion_stage: a grown motion stage moves whole (config and new tensors); misfits are clear."""
    from edgevfi.checkpoint import save_checkpoint
    from edgevfi.train.loop import with_motion_stage

    donor = tiny_model("apr-s", motion_refine_radii=(2, 1))
    for block in donor.flow.blocks[1:]:
        torch.nn.init.normal_(block.cost_in.weight, std=0.1)
    path = save_checkpoint(donor, tmp_path / "donor.safetensors")
    for name in ("apr-s", "svmv-s"):
        target = tiny_model(name)
        torch.manual_seed(3)
        for p in target.parameters():
            p.data.normal_()
        got = with_motion_stage(target, path)
        assert got.config.motion_refine_radii == (2, 1) and got.config.family == target.config.family
        theirs, ours = donor.state_dict(), target.state_dict()
        for k, v in got.state_dict().items():
            assert torch.equal(v, theirs[k] if k.startswith("flow.") else ours[k]), k
    wide = save_checkpoint(tiny_model("apr-s", motion_widths=(8, 8, 16)), tmp_path / "wide.safetensors")
    with pytest.raises(ValueError, match="motion stage does not fit svmv"):
        with_motion_stage(tiny_model("svmv-s"), wide)
    with pytest.raises(ValueError, match="no motion stage to replace"):
        with_motion_stage(models.create("blend"), path)


def test_micro_batches_accumulate_the_whole_batchs_gradient(tmp_path):
    """A batch backpropagated in chunks of micro_batch gives the batch's gradient, and the loss parts' means."""
    cfg = replace(_config(tmp_path, 1, "apr-s"), batch=4, half_canvas_prob=0.0)
    trainer = Trainer(cfg, dataset=MovingTextures())
    batch = next(trainer.batches())
    grads, parts = [], []
    for micro in (0, 2, 1):
        trainer.cfg = replace(cfg, micro_batch=micro)
        trainer.model.zero_grad(set_to_none=True)
        parts.append(trainer.accumulate_gradients(batch))
        grads.append({n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None})
    assert grads[0] and any(g.abs().max() > 0 for g in grads[0].values())
    for other, other_parts in zip(grads[1:], parts[1:], strict=True):
        assert set(other) == set(grads[0])
        for n, g in grads[0].items():
            assert torch.allclose(other[n], g, rtol=1e-4, atol=1e-6 * float(g.abs().max()) + 1e-12), n
        for k, v in parts[0].items():
            assert other_parts[k] == pytest.approx(v, rel=1e-5), k
    with pytest.raises(ValueError, match="micro_batch"):
        TrainConfig(micro_batch=-1)


def test_training_canvas_draws_half_enlarged_and_full_size_canvases():
    """One draw picks the canvas; enlarged canvases span [1, up_canvas_scale] × the crop, and a run
    without them draws exactly the random numbers earlier runs drew (same canvases, same stream)."""
    from edgevfi.train.loop import training_canvas

    def draws(cfg: TrainConfig, n: int = 400) -> tuple[list[tuple[int, int]], float]:
        gen = torch.Generator().manual_seed(3)
        canvases = [training_canvas((192, 256), cfg, 32, gen) for _ in range(n)]
        return canvases, torch.rand((), generator=gen).item()

    mixed, _ = draws(TrainConfig(half_canvas_prob=0.25, up_canvas_prob=0.25, up_canvas_scale=2.0))
    half = sum(c == (96, 128) for c in mixed) / len(mixed)
    full = sum(c == (192, 256) for c in mixed) / len(mixed)
    larger = [c for c in mixed if c[1] > 256]
    assert 0.18 < half < 0.32 and 0.4 < full < 0.6 and 0.15 < len(larger) / len(mixed) < 0.32
    assert max(c[1] for c in larger) <= 512 and max(c[1] for c in larger) > 448  # up to 2×, rounded to 32
    assert all(c[0] % 32 == 0 and c[1] % 32 == 0 for c in mixed)

    # Without enlarged canvases: the earlier rule (half with its probability, else the crop) and one draw each.
    plain, after = draws(TrainConfig(half_canvas_prob=0.25))
    gen = torch.Generator().manual_seed(3)
    earlier = [(96, 128) if torch.rand((), generator=gen).item() < 0.25 else (192, 256) for _ in range(400)]
    assert plain == earlier and after == torch.rand((), generator=gen).item()

    for bad in (dict(up_canvas_prob=-0.1), dict(half_canvas_prob=0.6, up_canvas_prob=0.5), dict(up_canvas_scale=0.5)):
        with pytest.raises(ValueError, match="canvas"):
            TrainConfig(**bad)
