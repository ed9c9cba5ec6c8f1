"""Model contract: registry, two-stage split, arbitrary t, routing, checkpoints."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import moving_pair, tiny_model
from safetensors.torch import save_file

from edgevfi import models
from edgevfi.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from edgevfi.models.base import default_canvas
from edgevfi.profile import count_params


def test_registry_lists_families_and_edge_budget():
    names = models.list_models()
    assert {"blend", "apr-s", "svmv-s", "apr-m"} <= set(names)
    for name in ("apr-s", "svmv-s"):
        assert count_params(models.create(name)) <= 1_500_000, name
    with pytest.raises(ValueError, match="unknown model"):
        models.create("nope")


@pytest.mark.parametrize("name", ["apr-s", "svmv-s", "blend"])
def test_forward_shapes_and_range(name):
    model = tiny_model(name)
    a, b = moving_pair(37, 53)
    with torch.no_grad():
        out = model(a, b, 0.3)
    assert out.shape == a.shape
    assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("name", ["apr-s", "svmv-s"])
def test_forward_is_motion_then_synthesis(name):
    """forward() == motion on the canvas + synthesize_region over the padded full-frame window."""
    model = tiny_model(name)
    a, b = moving_pair(40, 56)
    canvas = model.canvas_for((40, 56))
    with torch.no_grad():
        ref = model(a, b, 0.5)
        m0, m1 = model.motion(
            torch.nn.functional.interpolate(a, canvas, mode="bilinear"),
            torch.nn.functional.interpolate(b, canvas, mode="bilinear"),
        )
        z = torch.zeros(1, 2)
        out = model.synthesize_region(
            a, b, m0, m1, canvas, model.full_frame_region((40, 56)), z, z, torch.tensor([0.5])
        )
    p = model.config.halo
    assert torch.allclose(out[..., p : p + 40, p : p + 56], ref, atol=1e-6)


def test_blend_is_time_weighted_average():
    a, b = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)
    out = models.create("blend")(a, b, 0.25)
    assert torch.allclose(out, torch.full_like(a, 0.25))


def test_apr_uses_motion_at_t():
    """A frame pair related by a pure shift: with t, the splatted frame 0 moves by t·shift."""
    model = tiny_model("apr-s")
    src = torch.rand(1, 3, 32, 32)
    flow = torch.zeros(1, 2, 32, 32)
    flow[:, 0] = 4.0
    z = torch.zeros(1, 2)
    with torch.no_grad():
        model.synthesize(src, src, flow, -flow, z, z, torch.tensor([0.5]))
    i0, _, cov0, _ = model.last_warped
    assert torch.allclose(i0[..., 4:28, 6:30], src[..., 4:28, 4:28], atol=1e-5)  # moved right by 2
    assert float(cov0[..., :, :2].max()) < 1e-6  # hole where nothing landed


def test_router_hard_at_test_and_straight_through_in_training():
    model = tiny_model("apr-s", route_mode="router")
    a, b = moving_pair(64, 64)
    with torch.no_grad():
        model(a, b)
    probs = model.last_route_probs
    assert probs.shape == (1, 4, 4, 4)  # 4 dynamic blocks, 32-px patches on the 128-px padded frame
    model.train()
    out = model(a, b)
    out.mean().backward()
    assert model.router.linear.weight.grad is not None and model.router.linear.weight.grad.abs().sum() > 0


def test_svmv_hypotheses_shape():
    model = tiny_model("svmv-s")
    m0, _ = model.motion(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    offs = model.hypothesis_offsets(m0)
    assert offs.shape == (1, 4, 2, 32, 32)
    assert m0.shape[1] == 3 * 4


def test_default_canvas_caps_long_side():
    assert default_canvas((2160, 3840), 512, 32) == (288, 512)
    assert default_canvas((17, 23), 512, 32) == (32, 32)


def test_checkpoint_roundtrip(tmp_path):
    model = tiny_model("apr-s")
    path = save_checkpoint(model, tmp_path / "m.safetensors", extra={"val_psnr": 1.0})
    loaded = load_checkpoint(path)
    assert read_metadata(path)["extra"]["val_psnr"] == 1.0
    a, b = moving_pair(32, 32)
    with torch.no_grad():
        assert torch.equal(model(a, b), loaded(a, b))


def test_checkpoint_config_mismatch_is_clear(tmp_path):
    model = tiny_model("apr-s")
    wrong = dataclasses.replace(model.config, width=16)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata={"edgevfi_config": json.dumps(wrong.to_dict())})
    with pytest.raises(CheckpointError, match="do not match its config"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fine_canvas_upscale", 0.5, r"fine_canvas_upscale must be >= 1\.0"),
        ("fine_canvas_upscale", float("nan"), r"fine_canvas_upscale must be >= 1\.0"),
        ("fine_canvas_side", -1, r"fine_canvas_side must be >= 0"),
    ],
)
def test_a_config_with_a_bad_canvas_setting_cannot_be_built_or_loaded(tmp_path, field, value, message):
    model = tiny_model("apr-s")
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(model.config, **{field: value})
    # A checkpoint whose metadata holds one fails at load, naming the file, before any motion pass.
    bad = {**model.config.to_dict(), field: value}
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata={"edgevfi_config": json.dumps(bad)})
    with pytest.raises(CheckpointError, match=rf"bad\.safetensors: bad model config \({message}"):
        load_checkpoint(path)


def test_grown_checkpoint_keeps_every_trained_tensor(tmp_path):
    """grow_checkpoint: a fourth motion block is new, all else is loaded; a misfit is named."""
    from edgevfi.checkpoint import grow_checkpoint

    model = tiny_model("apr-s")
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    grown, new = grow_checkpoint(path, {"motion_widths": [8, 8, 8, 8]})
    assert new and all(k.startswith("flow.blocks.3.") for k in new)
    for k, v in model.state_dict().items():
        assert torch.equal(grown.state_dict()[k], v), k
    with pytest.raises(CheckpointError, match="do not fit the grown model"):
        grow_checkpoint(path, {"width": 16})
    with pytest.raises(ValueError, match="1 to 4 block widths"):
        grow_checkpoint(path, {"motion_widths": [8, 8, 8, 8, 8]})


def test_warped_cost_volumes_grow_a_trained_motion_stage_exactly(tmp_path):
    """motion_refine_radii adds only zero-initialised cost_in convs: the grown model is the trained one
    until they train; once non-zero they change the flow; train mode (per-tap sums) = eval (grouped conv)."""
    from edgevfi.checkpoint import grow_checkpoint

    model = tiny_model("apr-s")
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    grown, new = grow_checkpoint(path, {"motion_refine_radii": [2, 1]})
    assert sorted({k.rsplit(".", 1)[0] for k in new}) == ["flow.blocks.1.cost_in", "flow.blocks.2.cost_in"]
    assert grown.flow.blocks[1].cost_in.in_channels == 25 and grown.flow.blocks[2].cost_in.in_channels == 9
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        assert torch.equal(grown.eval()(a, b), model(a, b))
        for block in grown.flow.blocks[1:]:
            torch.nn.init.normal_(block.cost_in.weight, std=0.5)
        eval_flow = grown.flow(a, b)[0]
        assert (eval_flow - model.flow(a, b)[0]).abs().max() > 1e-3
        train_flow = grown.train().flow(a, b)[0]
    assert torch.allclose(train_flow, eval_flow, atol=1e-5 * float(eval_flow.abs().max()) + 1e-5)
    with pytest.raises(ValueError, match="one radius >= 0 per block"):
        grow_checkpoint(path, {"motion_refine_radii": [2]})
    with pytest.raises(ValueError, match="full-canvas block takes no cost volume"):
        grow_checkpoint(path, {"motion_widths": [8, 8, 8, 8], "motion_refine_radii": [2, 1, 1]})


def test_match_blocks_grow_a_trained_motion_stage_exactly(tmp_path):
    """motion_match_blocks adds zero-initialised residual blocks on the cost volume's features: the grown
    model is the trained one until they train; once non-zero they change the flow."""
    from edgevfi.checkpoint import grow_checkpoint

    model = tiny_model("apr-s")
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    grown, new = grow_checkpoint(path, {"motion_match_blocks": 2})
    assert new and all(k.startswith("flow.match.") for k in new) and len(grown.flow.match) == 2
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        assert torch.equal(grown.eval()(a, b), model(a, b))
        torch.nn.init.normal_(grown.flow.match[1].body[-1].weight, std=0.5)
        assert (grown.flow(a, b)[0] - model.flow(a, b)[0]).abs().max() > 1e-3


def test_refine_match_blocks_grow_the_warped_cost_volumes_exactly(tmp_path):
    """motion_refine_match_blocks deepens the features of each warped cost volume (1/4 and 1/2 canvas):
    the grown model is the trained one until the blocks train; once non-zero they change the flow but
    not the global cost volume (the 1/8 features keep their input)."""
    from edgevfi.checkpoint import grow_checkpoint

    model = tiny_model("apr-s", motion_refine_radii=[2, 1])
    for block in model.flow.blocks[1:]:  # a trained model's cost volumes matter; fresh ones are zeroed
        torch.nn.init.normal_(block.cost_in.weight, std=0.5)
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    grown, new = grow_checkpoint(path, {"motion_refine_match_blocks": 1})
    assert new and all(k.startswith("flow.refine_match.") for k in new)
    assert sorted(grown.flow.refine_match) == ["2", "4"]
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        assert torch.equal(grown.eval()(a, b), model(a, b))
        torch.nn.init.normal_(grown.flow.refine_match["2"][0].body[-1].weight, std=0.5)
        stages, before = grown.flow.stage_flows(a, b), model.flow.stage_flows(a, b)
    assert torch.equal(stages[0], before[0]) and torch.equal(stages[1], before[1])
    assert (stages[2] - before[2]).abs().max() > 1e-3


def test_wider_refine_radius_grows_the_warped_cost_volume_exactly(tmp_path):
    """A wider motion_refine_radii keeps each trained tap at its displacement (outer taps start at
    zero): the grown model is the trained one until the outer taps train, then only the finest flow
    changes. A radius that shrinks is refused by name."""
    from edgevfi.checkpoint import grow_checkpoint
    from edgevfi.models.blocks import widen_cost_taps

    model = tiny_model("apr-s", motion_refine_radii=[2, 1])
    for block in model.flow.blocks[1:]:
        torch.nn.init.normal_(block.cost_in.weight, std=0.5)
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    grown, new = grow_checkpoint(path, {"motion_refine_radii": [2, 2]})
    assert new == [] and grown.flow.blocks[2].cost_in.weight.shape[1] == 25
    wide = grown.flow.blocks[2].cost_in.weight.detach().view(-1, 5, 5, 3, 3)
    assert torch.equal(wide[:, 1:4, 1:4], model.flow.blocks[2].cost_in.weight.detach().view(-1, 3, 3, 3, 3))
    assert wide[:, 0].abs().sum() == 0 and wide[:, :, 4].abs().sum() == 0
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        assert torch.allclose(grown.eval()(a, b), model(a, b), atol=1e-4)  # only the sum order differs
        grown.flow.blocks[2].cost_in.weight[:, 0] = 0.5  # the tap at (-2, -2)
        stages, before = grown.flow.stage_flows(a, b), model.flow.stage_flows(a, b)
    assert torch.equal(stages[0], before[0]) and torch.equal(stages[1], before[1])
    assert (stages[2] - before[2]).abs().max() > 1e-3
    with pytest.raises(CheckpointError, match="do not fit"):
        grow_checkpoint(path, {"motion_refine_radii": [1, 1]})
    with pytest.raises(ValueError, match="does not widen"):
        widen_cost_taps(torch.zeros(4, 24, 3, 3), 3)


def test_repeat_blocks_grow_a_pyramid_exactly(tmp_path):
    """motion_repeat_widths adds an untied second block after a finer block, on its grid: the grown
    model is the trained one until the new block's flow head trains; once it has, that block's flow
    and every finer one change, the coarser ones do not, and the heads still get the last main block's
    hidden features."""
    from edgevfi.checkpoint import grow_checkpoint

    model = tiny_model("apr-s", motion_refine_radii=[2, 1])
    for block in model.flow.blocks[1:]:
        torch.nn.init.normal_(block.cost_in.weight, std=0.5)
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    grown, new = grow_checkpoint(path, {"motion_repeat_widths": [0, 8, 0]})
    assert new and all(k.startswith("flow.repeats.1.") for k in new) and list(grown.flow.repeats) == ["1"]
    assert grown.flow.repeats["1"].cost_in.weight.shape[1] == 25  # the 1/4 grid's ±2-cell cost volume
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        assert torch.equal(grown.eval()(a, b), model(a, b))
        torch.nn.init.normal_(grown.flow.repeats["1"].flow.weight, std=0.05)
        stages, before = grown.flow.stage_flows(a, b), model.flow.stage_flows(a, b)
        (_, hidden), (_, hidden_before) = grown.flow(a, b), model.flow(a, b)
    assert torch.equal(stages[0], before[0])
    assert all((stages[k] - before[k]).abs().max() > 1e-3 for k in (1, 2))
    assert hidden.shape == hidden_before.shape
    assert count_params(grown) > count_params(model)


def test_fine_cost_volume_grows_the_last_block_exactly(tmp_path):
    """motion_fine_radius hands the 1/2-canvas last block a full-canvas warped cost volume: the grown
    model is the trained one until its input conv trains; once it has, only the last block's flow
    changes, the exported graphs' cost-volume form gives the same flow as eager's, and a pyramid whose
    last block is not at 1/2 of the canvas refuses it by name."""
    from edgevfi.checkpoint import grow_checkpoint
    from edgevfi.models.blocks import FlowPyramid, exported_cost_volumes

    model = tiny_model("apr-s", motion_refine_radii=[2, 1])
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    grown, new = grow_checkpoint(path, {"motion_fine_radius": 2})
    assert new and all(k.startswith(("flow.fine_features.", "flow.blocks.2.fine_in.")) for k in new)
    assert grown.flow.blocks[2].fine_in[0].weight.shape[1] == 25
    assert count_params(grown) - count_params(model) < 7_000
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        assert torch.equal(grown.eval()(a, b), model(a, b))
        torch.nn.init.normal_(grown.flow.blocks[2].fine_in[-1].weight, std=0.5)
        stages, before = grown.flow.stage_flows(a, b), model.flow.stage_flows(a, b)
        with exported_cost_volumes(grown):
            exported_form = grown.flow(a, b)[0]
        eager = grown.flow(a, b)[0]
    assert torch.equal(stages[0], before[0]) and torch.equal(stages[1], before[1])
    assert (stages[2] - before[2]).abs().max() > 1e-3
    assert (exported_form - eager).abs().max() < 1e-3 * eager.abs().max()  # only the sums' order differs
    with pytest.raises(ValueError, match="fine_radius"):
        FlowPyramid((8, 8, 8, 8), feat=8, fine_radius=2)


def test_splat_aligner_grows_apr_exactly_and_undoes_a_known_misalignment(tmp_path):
    """align_radius re-aligns APR's two splatted images: the grown model is the trained one while its
    head's last conv is zero (and within rounding at its near-zero init); a known relative misalignment
    e of two views of one image (view 0 at +t·e, view 1 at −(1−t)·e from it) is taken out when the head
    says e; the exported graphs' correlation form gives what eager's does."""
    import math

    from edgevfi.checkpoint import grow_checkpoint
    from edgevfi.models.blocks import exported_cost_volumes
    from edgevfi.ops import backward_warp

    model = tiny_model("apr-s")
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    grown, new = grow_checkpoint(path, {"align_radius": 2})
    grown.eval()
    assert new and all(k.startswith("align.") for k in new)
    assert count_params(grown) - count_params(model) < 7_000
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        assert (grown(a, b, 0.3) - model(a, b, 0.3)).abs().max() < 1e-2
        grown.align.head[-1].weight.zero_()
        assert torch.equal(grown(a, b, 0.3), model(a, b, 0.3))

        t, e = 0.3, (0.7, -0.45)
        R = grown.config.align_radius
        grown.align.head[-1].bias.copy_(torch.tensor([R * math.atanh(v / R) for v in e]))
        yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
        img = torch.stack([torch.sin(xx / 6.3 + yy / 9.9), torch.cos(yy / 5.7), torch.sin((xx - yy) / 8.1)])
        img = (0.5 + 0.4 * img).unsqueeze(0)
        shift = torch.tensor(e).view(1, 2, 1, 1).expand(1, 2, 48, 64)
        view0, view1 = backward_warp(img, -t * shift), backward_warp(img, (1 - t) * shift)
        cov = torch.ones(1, 1, 48, 64)
        out0, out1 = grown._realign(view0, view1, cov, cov, torch.full((1, 1, 1, 1), t))
        inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
        before = max((v - img)[inner].abs().mean() for v in (view0, view1))
        after = max((v - img)[inner].abs().mean() for v in (out0, out1))
        assert after < 0.2 * before, (before, after)
        # ... and exactly as the reference warp moves them back (bilinear twice is all that is left).
        assert (out0 - backward_warp(view0, t * shift))[inner].abs().max() < 1e-5
        assert (out1 - backward_warp(view1, (t - 1) * shift))[inner].abs().max() < 1e-5

        torch.nn.init.normal_(grown.align.head[-1].weight, std=0.05)
        eager = grown(a, b, 0.3)
        with exported_cost_volumes(grown):
            exported_form = grown(a, b, 0.3)
    assert (eager - model(a, b, 0.3)).abs().max() > 1e-3
    assert (exported_form - eager).abs().max() < 1e-4
    with pytest.raises(ValueError, match="align_radius"):
        models.create("apr-s", align_radius=-1)


@pytest.mark.parametrize("widths", [(8, 0, 0), (0, 8), (0, -1, 0)])
def test_repeat_widths_are_one_per_block_and_never_the_first(widths):
    from edgevfi.models.blocks import FlowPyramid

    with pytest.raises(ValueError, match="repeat_widths"):
        FlowPyramid((8, 8, 8), feat=8, repeat_widths=widths)


def test_motion_consensus_averages_the_last_blocks_two_directions():
    """With ``motion_consensus`` the pyramid's output is :func:`flow_consensus` of its own output without
    it, taken on the last block's grid; no parameters are added, so a shipped model switches it by config."""
    from edgevfi.ops import flow_consensus

    plain = tiny_model("apr-s")
    agreed = models.with_config(plain, motion_consensus=True)
    assert count_params(agreed) == count_params(plain)
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        flow, hidden = plain.flow(a, b)
        fused, hidden_fused = agreed.flow(a, b)
    s = plain.flow.scales[-1]
    expected = torch.cat(flow_consensus(flow[:1] / s, flow[1:] / s), 0) * s
    assert torch.allclose(fused, expected, atol=1e-5)
    assert (fused - flow).abs().max() > 1e-2  # it does something on this pair
    assert torch.equal(hidden_fused, hidden)
    m0, m1 = agreed.motion(a, b)
    assert torch.equal(torch.cat([m0, m1], 0), fused)
    # Per-block flows (what stage-weighted distillation trains on) end with the same consensus flow.
    with torch.no_grad():
        assert torch.equal(agreed.flow.stage_flows(a, b)[-1], fused)
        assert torch.equal(plain.flow.stage_flows(a, b)[-1], flow)


def test_flow_pyramid_warm_start_from_a_blocks_own_flow_is_exact():
    """Starting at block k from the flow the pyramid itself had before block k reproduces the full pass;
    another init changes the result; start without init (or init without start) is refused."""
    model = tiny_model("apr-s", motion_refine_radii=[2, 1])
    a, b = moving_pair(64, 96)
    with torch.no_grad():
        full = model.flow(a, b)[0]
        stages = model.flow.stage_flows(a, b)
        for k in (1, 2):
            assert torch.allclose(model.flow(a, b, stages[k - 1], k)[0], full, atol=1e-5)
        shifted = model.flow(a, b, stages[0] + 4.0, 1)[0]
    assert (shifted - full).abs().max() > 1e-3
    for init, start in ((None, 1), (stages[0], 0), (stages[0], 3)):
        with pytest.raises(ValueError, match="give init exactly when"):
            model.flow(a, b, init, start)


def test_pickle_checkpoint_refused(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(tiny_model("apr-s").state_dict(), path)
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(junk)


def test_models_do_not_import_export_quantize_or_cli():
    import ast
    from pathlib import Path

    root = Path(models.__file__).parent
    for f in [*root.glob("*.py"), *(root.parent / "ops").glob("*.py")]:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for n in names:
                    assert not n.startswith(("export", "quantize", "edgevfi.cli")), f"{f.name} imports {n}"


def _routed_pair(bias: float):
    """The same tiny APR weights as a dynamic router and as static top-k, router biased by ``bias``."""
    import dataclasses

    from conftest import tiny_model

    router = tiny_model("apr-s", route_mode="router")
    torch.nn.init.constant_(router.router.linear.bias, bias)
    topk = models.build(dataclasses.replace(router.config, route_mode="topk")).eval()
    topk.load_state_dict(router.state_dict())
    return router, topk


def test_static_topk_equals_dynamic_router_when_choices_fit():
    from conftest import moving_pair

    a, b = moving_pair(96, 128, dx=3, dy=2)
    # A negative bias makes the router pick few patches: at most k = keep ratio × patches per block.
    router, topk = _routed_pair(-0.5)
    with torch.no_grad():
        want = router(a, b, 0.5)
        probs = router.last_route_probs
        got = topk(a, b, 0.5)
    n = probs[0, 0].numel()
    picked = (probs > 0.5).flatten(2).sum(-1)  # (B, blocks)
    ks = torch.tensor([max(1, round(r * n)) for r in router.config.keep_ratios])
    assert (picked <= ks).all() and picked.sum() > 0, (picked, ks)
    assert torch.allclose(got, want, atol=1e-6)


def test_static_topk_runs_only_k_patches():
    from conftest import moving_pair

    a, b = moving_pair(96, 128)
    router, topk = _routed_pair(5.0)  # the router wants every patch: top-k must cut it down
    calls: list[int] = []
    hook = topk.refine[1].register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    with torch.no_grad():
        got, want = topk(a, b, 0.5), router(a, b, 0.5)
    hook.remove()
    n = topk.last_route_probs[0, 0].numel()
    assert calls == [max(1, round(topk.config.keep_ratios[0] * n))]
    assert not torch.allclose(got, want, atol=1e-4)  # it really skipped patches the router wanted


@pytest.mark.parametrize("name", [n for n in models.list_models() if models.shipped_weights(n)])
def test_shipped_weights_match_their_cards(name):
    import hashlib

    path = models.shipped_weights(name)
    card = json.loads(path.with_suffix(".json").read_text())
    model = models.create(name, pretrained=True)
    assert card["name"] == name and card["family"] == model.config.family
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["params"] == sum(p.numel() for p in model.parameters())
    assert card["val"]["n"] == 21 and card["val"]["psnr"] > 22.04  # above the blend baseline
    assert card["training"]["step"] and "never the val set" in card["training"]["data"]
    if name.endswith("-s"):
        assert card["params"] <= 1_500_000  # edge defaults
    # The registry builds the shipped architecture (training --model NAME from scratch, pruning, budgets).
    assert count_params(models.create(name)) == card["params"]
