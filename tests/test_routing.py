"""Difficulty-aware routing (VFI-DPA): the assessor, the Router in the one Runner, training, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import moving_pair, tiny_model

from edgevfi.checkpoint import CheckpointError, load_assessor, save_assessor
from edgevfi.models.dpa import DifficultyAssessor, DPAConfig, assess_canvas, frame_difficulty, pair_gain_db
from edgevfi.runtime import EagerBackend, Route, Router, Runner, blend_windows
from edgevfi.runtime.routing import EagerAssessBackend, threshold_for_budget, top_windows, window_sums
from edgevfi.runtime.tiles import TilePlan
from edgevfi.train.dpa import DPATrainConfig, LabelSet, dpa_loss, patch_mse, spearman, train_assessor

TILE = 128


def tiny_assessor(align: str = "warp", seed: int = 0) -> DifficultyAssessor:
    torch.manual_seed(seed)
    model = DifficultyAssessor(DPAConfig(width=4, align=align)).eval()
    # Random benefit scores so that top-k routing picks a non-trivial subset.
    torch.nn.init.normal_(model.head.weight, std=0.5)
    return model


def routed_runner(budget: float, granularity: str = "tile", accurate=None, threshold=None) -> Runner:
    fast = EagerBackend(tiny_model("apr-s"))
    acc = EagerBackend(accurate if accurate is not None else tiny_model("svmv-s"))
    router = Router(EagerAssessBackend(tiny_assessor()), acc, budget, granularity, threshold=threshold)
    return Runner(fast, tile=TILE, router=router)


@pytest.fixture(scope="module")
def frames():
    return moving_pair(150, 230, dx=6, dy=-4)


# ----------------------------------------------------------------------------- assessor


@pytest.mark.parametrize("align", ["warp", "deform", "none"])
def test_assessor_outputs_patch_maps(align):
    a, b = moving_pair(64, 96)
    d, ben, att = tiny_assessor(align)(a, b)
    assert d.shape == ben.shape == att.shape == (1, 1, 8, 12)  # one patch per 8 assess-canvas pixels
    assert torch.isfinite(d).all()


def test_assessor_cost_is_under_five_percent_of_the_fast_model():
    from torch.utils.flop_counter import FlopCounterMode

    from edgevfi import models
    from edgevfi.profile import count_macs

    canvas = assess_canvas((288, 512))
    assert canvas == (144, 256)
    x = torch.rand(1, 3, *canvas)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        DifficultyAssessor()(x, x)
    assessor_macs = fc.get_total_flops() // 2
    fast_macs = count_macs(models.create("apr-s"), (720, 1280))["total"]
    assert assessor_macs < 0.05 * fast_macs


def test_pair_gain_and_frame_difficulty_known_answers():
    difficulty = torch.full((1, 1, 4, 4), math.log10(0.01))
    benefit = torch.full((1, 1, 4, 4), 5.0)  # removes 0.005 of the 0.01 MSE: half
    assert pair_gain_db(difficulty, benefit).item() == pytest.approx(10 * math.log10(2), abs=1e-4)
    assert pair_gain_db(difficulty, torch.zeros_like(benefit)).item() == pytest.approx(0.0, abs=1e-6)
    # Removing more than the error is capped (at most 90 % removed): finite, 10 dB.
    assert pair_gain_db(difficulty, torch.full_like(benefit, 50.0)).item() == pytest.approx(10.0, abs=1e-4)
    att = torch.full((1, 1, 4, 4), -30.0)
    att[0, 0, 1, 2] = 30.0  # all attention on one patch
    d = torch.zeros(1, 1, 4, 4)
    d[0, 0, 1, 2] = -1.5
    assert frame_difficulty(d, att).item() == pytest.approx(-1.5, abs=1e-4)


def test_assessor_checkpoint_round_trip_and_refusals(tmp_path):
    model = tiny_assessor()
    path = save_assessor(model, tmp_path / "a.safetensors", extra={"calibration": {"0.50": 0.2}})
    loaded, extra = load_assessor(path)
    assert extra["calibration"] == {"0.50": 0.2}
    a, b = moving_pair(32, 48)
    for x, y in zip(model(a, b), loaded(a, b), strict=True):
        assert torch.equal(x, y)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match=r"bad\.safetensors"):
        load_assessor(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="no such"):
        load_assessor(tmp_path / "missing.safetensors")


# ----------------------------------------------------------------------------- routing decisions


def test_top_windows_takes_the_highest_scores():
    plan = TilePlan((150, 230), tile=TILE, halo=32, overlap=32)
    n = len(plan.windows())
    scores = list(range(n))
    route = top_windows(scores, plan, 0.5)
    idx = plan.indexed_windows()
    assert len(route.accurate) == math.floor(0.5 * n + 0.5)
    assert route.accurate == {(idx[i][0], idx[i][1]) for i in range(n - len(route.accurate), n)}
    assert top_windows(scores, plan, 0.0).accurate == frozenset()
    assert len(top_windows(scores, plan, 1.0).accurate) == n
    with pytest.raises(ValueError, match="budget"):
        top_windows(scores, plan, 1.5)


def test_window_sums_weigh_pixels_by_the_blend():
    plan = TilePlan((150, 230), tile=TILE, halo=32, overlap=32)
    sums = window_sums(torch.ones(150, 230), plan)
    # The blend weights of all windows sum to one at every pixel: the sums add up to the frame area.
    assert sum(sums) == pytest.approx(150 * 230, rel=1e-5)


def test_threshold_for_budget_interpolates_the_calibration():
    cal = {"0.50": 0.1, "0.70": 0.3, "0.90": 0.7}
    assert threshold_for_budget(cal, 0.3) == pytest.approx(0.3)
    assert threshold_for_budget(cal, 0.2) == pytest.approx(0.5)
    assert threshold_for_budget(cal, 0.0) == math.inf
    assert threshold_for_budget(cal, 1.0) == -math.inf
    with pytest.raises(ValueError, match="calibration"):
        threshold_for_budget({}, 0.3)


# ----------------------------------------------------------------------------- the routed Runner


def _plain(model_name: str, frames) -> torch.Tensor:
    model = tiny_model(model_name)
    (out,) = Runner(EagerBackend(model), tile=TILE).interpolate(*frames, [0.5])
    return out


@pytest.mark.parametrize("granularity", ["tile", "pair"])
def test_budget_zero_is_always_fast_and_one_is_always_accurate(frames, granularity):
    kw = {"threshold": math.inf} if granularity == "pair" else {}
    (zero,) = routed_runner(0.0, granularity, **kw).interpolate(*frames, [0.5])
    assert torch.equal(zero, _plain("apr-s", frames))
    kw = {"threshold": -math.inf} if granularity == "pair" else {}
    (one,) = routed_runner(1.0, granularity, **kw).interpolate(*frames, [0.5])
    assert torch.equal(one, _plain("svmv-s", frames))


def test_per_tile_routing_is_seamless(frames):
    # The same model as fast and accurate: any seam from mixing windows would show as a difference.
    same = routed_runner(0.5, accurate=tiny_model("apr-s"))
    (mixed,) = same.interpolate(*frames, [0.5])
    assert torch.allclose(mixed, _plain("apr-s", frames), atol=1e-6)
    # Different models: a convex blend of the two outputs everywhere, each window's own model in its core.
    runner = routed_runner(0.5)
    pair = runner.prepare(*frames)
    assert 0 < len(pair.route.accurate) < pair.route.windows
    out = runner.synthesize(pair, 0.5)
    fast, acc = _plain("apr-s", frames), _plain("svmv-s", frames)
    lo, hi = torch.minimum(fast, acc), torch.maximum(fast, acc)
    assert bool(((out >= lo - 1e-5) & (out <= hi + 1e-5)).all())
    plan = runner.plan(frames[0].shape[-2:])
    tiles = list(runner.window_tiles(pair, 0.5, plan))
    assert torch.equal(blend_windows(plan, tiles), out)
    for iy, ix, (y0, x0, _, _) in plan.indexed_windows():
        if plan.blend_weight(iy, ix)[64, 64] == 1.0 and 0 <= y0 + 64 < 150 and 0 <= x0 + 64 < 230:
            want = acc if (iy, ix) in pair.route.accurate else fast
            assert torch.allclose(out[..., y0 + 64, x0 + 64], want[..., y0 + 64, x0 + 64], atol=1e-5)


def test_route_override_and_shared_tiling_checks(frames):
    runner = routed_runner(0.3)
    plan = runner.plan(frames[0].shape[-2:])
    pair = runner.prepare(*frames, route=Route.none(plan))
    assert pair.accurate is None and pair.scores is None
    pair = runner.prepare(*frames, route=Route.all(plan))
    assert pair.m0 is None and pair.accurate is not None
    with pytest.raises(ValueError, match="router"):
        Runner(EagerBackend(tiny_model("apr-s"))).prepare(*frames, route=Route.all(plan))
    acc = EagerBackend(tiny_model("svmv-s"), tile=256)
    router = Router(EagerAssessBackend(tiny_assessor()), acc)
    with pytest.raises(ValueError, match="share tile"):
        Runner(EagerBackend(tiny_model("apr-s")), router=router)
    with pytest.raises(ValueError, match="granularity"):
        Router(EagerAssessBackend(tiny_assessor()), acc, granularity="frame")


# ----------------------------------------------------------------------------- labels and training


def _labels(n: int = 12, seed: int = 0) -> LabelSet:
    rng = np.random.default_rng(seed)
    out = object.__new__(LabelSet)
    out.img0 = rng.integers(0, 255, (n, 64, 64, 3), dtype=np.uint8)
    out.img1 = np.roll(out.img0, 3, axis=2)
    # Error scales with the input difference: a learnable relation.
    diff = np.abs(out.img0.astype(np.float32) - out.img1).mean(-1) / 255
    pooled = diff.reshape(n, 4, 16, 4, 16).mean((2, 4))
    out.mse_fast = (0.002 + 0.05 * pooled**2).astype(np.float32)
    out.mse_acc = (out.mse_fast * 0.7).astype(np.float32)
    out.clips = np.array([f"clip{i % 3}" for i in range(n)])
    return out


def test_patch_mse_known_answer():
    gt = torch.zeros(1, 3, 32, 32)
    pred = torch.zeros(1, 3, 32, 32)
    pred[..., :16, :16] = 0.5
    m = patch_mse(pred, gt)
    assert m.shape == (1, 1, 2, 2)
    assert m[0, 0, 0, 0].item() == pytest.approx(0.25) and m[0, 0, 1, 1].item() == 0.0


def test_training_lowers_the_loss_and_split_keeps_clips_whole():
    labels = _labels()
    train, held = labels.split_by_clip(every=3)
    assert set(train.clips.tolist()).isdisjoint(held.clips.tolist())
    model = DifficultyAssessor(DPAConfig(width=4))
    batch = labels.batch(np.arange(len(labels)))
    before, _ = dpa_loss(model, batch)
    train_assessor(model, labels, DPATrainConfig(steps=60, batch=4, lr=3e-3, log_every=60))
    after, parts = dpa_loss(model, batch)
    assert after.item() < 0.7 * before.item()
    assert set(parts) == {"frame", "patch", "benefit", "aux", "loss"}


def test_spearman_known_answers():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert spearman(a, a * 10) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)


# ----------------------------------------------------------------------------- CLI


def _triplet_folder(root):
    from PIL import Image

    from edgevfi.io import to_uint8

    for k in range(2):
        a, b = moving_pair(72, 100, dx=4 + k, dy=-2, seed=k)
        seq = root / "set" / f"seq{k}"
        seq.mkdir(parents=True)
        for name, img in (("im1", a), ("im2", (a + b) / 2), ("im3", b)):
            Image.fromarray(to_uint8(img)).save(seq / f"{name}.png")
    return root / "set"


def test_cli_eval_routed_with_the_shipped_models(tmp_path):
    import json

    from edgevfi.cli import main

    data = _triplet_folder(tmp_path)
    out = tmp_path / "r.json"
    assert main(["eval", str(data), "--route", "apr-s,svmv-s", "--budget", "1", "--json", str(out)]) == 0
    routed = json.loads(out.read_text())
    assert routed["accurate_share"] == 1.0 and {"accurate_share", "predicted_gain_db"} <= set(routed["per_triplet"][0])
    assert main(["eval", str(data), "--model", "svmv-s", "--json", str(tmp_path / "s.json")]) == 0
    accurate = json.loads((tmp_path / "s.json").read_text())
    assert routed["mean_psnr"] == accurate["mean_psnr"]  # budget 1: every window from the accurate model
    assert main(["eval", str(data), "--route", "apr-s,svmv-s", "--route-by", "pair", "--threshold", "1e9"]) == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--route", "apr-s"], "two model names"),
        (["--route", "apr-s,nope"], "unknown model"),
        (["--route", "apr-s,svmv-s", "--budget", "1.5"], "budget must be in"),
        (["--budget", "0.3"], "add --route"),
        (["--route", "apr-s,svmv-s", "--model", "apr-s"], "drop --model"),
        (["--route", "apr-s,svmv-s", "--assessor", "missing.safetensors"], "no such assessor"),
    ],
)
def test_cli_routing_bad_input_is_one_line(tmp_path, capsys, args, needle):
    from edgevfi.cli import main

    data = _triplet_folder(tmp_path)
    assert main(["eval", str(data), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


# ----------------------------------------------------------------------------- routed bundles


@pytest.fixture(scope="module")
def routed_bundle(tmp_path_factory):
    pytest.importorskip("executorch")
    pytest.importorskip("litert_torch")
    pytest.importorskip("onnxruntime")
    from export.routed import write_routed_bundle

    root = tmp_path_factory.mktemp("routed")
    assessor = tiny_assessor()
    # The accurate model is a wider APR here: LiteRT cannot convert SVMV's motion graph (see docs/routing.md).
    bundle = write_routed_bundle(
        tiny_model("apr-s"),
        tiny_model("apr-s", width=16),
        assessor,
        root / "bundle",
        ["onnx", "et", "litert"],
        names=("tiny-apr", "tiny-apr-wide"),
        calibration={"0.50": 0.0, "0.70": 0.1},
        canvas=(64, 96),
        tile=TILE,
        log=lambda *_: None,
    )
    return bundle, assessor


@pytest.mark.parametrize("backend", ["onnx", "et", "litert"])
def test_assess_graph_parity(routed_bundle, backend):
    from export.routed import AssessBundleBackend, load_routed_bundle

    bundle, assessor = routed_bundle
    routed = load_routed_bundle(bundle, backend)
    run = AssessBundleBackend(routed, backend)
    assert run.canvas_hw == (32, 48)
    a, b = moving_pair(32, 48)
    for got, want in zip(run.assess(a, b), assessor(a, b), strict=True):
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-4), (backend, (got - want).abs().max())


def test_routed_bundle_runs_through_the_runner_like_eager(routed_bundle):
    from export.bundle import BundleError
    from export.routed import is_routed, load_routed_bundle, routed_backends

    bundle, assessor = routed_bundle
    assert is_routed(bundle)
    routed = load_routed_bundle(bundle, "onnx")
    fast, router = routed_backends(routed, "onnx", budget=0.5)
    frames = moving_pair(100, 150)
    pair = Runner(fast, overlap=fast.overlap, router=router).prepare(*frames)
    assert 0 < len(pair.route.accurate) < pair.route.windows
    out = Runner(fast, overlap=fast.overlap, router=router).synthesize(pair, 0.5)
    eager_fast = EagerBackend(tiny_model("apr-s"), max_batch=1, canvas_hw=(64, 96), tile=TILE)
    eager_acc = EagerBackend(tiny_model("apr-s", width=16), max_batch=1, canvas_hw=(64, 96), tile=TILE)
    eager = Runner(eager_fast, overlap=fast.overlap, router=Router(EagerAssessBackend(assessor, (32, 48)), eager_acc))
    want = eager.synthesize(eager.prepare(*frames, route=pair.route), 0.5)
    assert (out - want).abs().max() < 2e-3
    # A tampered assess graph is refused.
    victim = bundle / routed.manifest["assess"]["onnx"]["file"]
    saved = victim.read_bytes()
    try:
        victim.write_bytes(saved[:-10])
        with pytest.raises(BundleError, match="sha256"):
            load_routed_bundle(bundle, "onnx")
    finally:
        victim.write_bytes(saved)


def test_assess_graph_converts_to_coreml(tmp_path):
    pytest.importorskip("coremltools")
    from export import backends
    from export.graphs import build_assess_graph

    spec = build_assess_graph(tiny_assessor(), (32, 48))
    cov = backends.get("coreml").lower(spec, tmp_path / "assess.mlpackage", "fp32")
    v = cov["validation"]
    assert v["outputs"] == ["difficulty", "benefit", "attention"] and v["executed"] is False
    with pytest.raises(ValueError, match="eager reference"):
        build_assess_graph(tiny_assessor("deform"), (32, 48))
