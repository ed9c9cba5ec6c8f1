"""Export → load → run → compare, for every backend, on a tiny model with tiny static shapes.

One bundle with all four backends is exported once per session (the slow part: ExecuTorch,
LiteRT and Core ML lowering); the tests then load, run and tamper with copies of it.
"""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

pytest.importorskip("executorch")
pytest.importorskip("litert_torch")
pytest.importorskip("coremltools")
pytest.importorskip("onnxruntime")

from conftest import moving_pair, tiny_model

from edgevfi import models
from edgevfi.checkpoint import save_checkpoint
from edgevfi.cli import main
from edgevfi.models.blocks import FlowPyramid, eager_tap_sums, exported_cost_volumes, local_correlation
from edgevfi.runtime import Runner
from edgevfi.runtime.backend import EagerBackend
from export import backends
from export.bundle import BundleBackend, BundleError, load_bundle, write_bundle
from export.graphs import WARP_VARIANTS, build_graphs, with_warp
from export.parity import check, source_model

CANVAS = (64, 96)
FINE = (96, 160)  # a fine canvas: the motion-adaptive second pass's own motion graph
TILE = 128


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, torch.nn.Module]:
    root = tmp_path_factory.mktemp("export")
    # With the finer motion blocks' warped cost volumes (as the shipped apr-s), made non-zero so every
    # backend really computes them.
    # A repeat block at 1/4 of the canvas too, its flow head non-zero (a grown one starts at zero).
    # And the shipped apr-s's splat re-alignment, its head non-zero so the synth graph really moves pixels.
    model = tiny_model("apr-s", motion_refine_radii=(2, 1), motion_repeat_widths=(0, 8, 0), align_radius=2)
    with torch.no_grad():
        for block in [*model.flow.blocks[1:], *model.flow.repeats.values()]:
            torch.nn.init.normal_(block.cost_in.weight, std=0.5)
        torch.nn.init.normal_(model.flow.repeats["1"].flow.weight, std=0.05)
        torch.nn.init.normal_(model.align.head[-1].weight, std=0.05)
    ckpt = save_checkpoint(model, root / "tiny.safetensors")
    bundle = write_bundle(
        model,
        root / "bundle",
        ["onnx", "et", "litert", "coreml"],
        model_name="tiny-apr",
        source=ckpt,
        canvas=CANVAS,
        fine_canvases=(FINE,),
        tile=TILE,
        log=lambda *_: None,
    )
    return bundle, ckpt, model


def test_manifest_records_shapes_hashes_and_coverage(exported):
    bundle, _, model = exported
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["canvas"] == list(CANVAS) and m["tile"] == TILE and m["halo"] == model.config.halo
    assert m["fine_canvases"] == [list(FINE)] and m["motion_reach"] == model.motion_reach
    assert m["fine_canvas_upscale"] == model.config.fine_canvas_upscale
    assert set(m["backends"]) == {"onnx", "et", "litert", "coreml"}
    for entry in m["backends"].values():
        assert set(entry["graphs"]) == {"motion", "motion_96x160", "synth"}
        assert entry["graphs"]["motion_96x160"]["inputs"][0]["shape"] == [1, 3, *FINE]
    synth = m["backends"]["et"]["graphs"]["synth"]
    assert [i["name"] for i in synth["inputs"]] == ["src0", "src1", "mot0", "mot1", "shift0", "shift1", "t"]
    assert synth["inputs"][0]["shape"] == [1, 3, TILE, TILE]
    assert synth["outputs"][0]["shape"] == [1, 3, TILE, TILE]
    assert m["source"]["sha256"] and m["tools"]["torch"]
    # The code the graphs came from, so a benchmark can tell a bundle of older graph code (same weights).
    from export.bundle import graph_code_sha256

    assert m["source"]["code_sha256"] == graph_code_sha256()
    # Every file (Core ML packages are folders) is listed with its hash.
    on_disk = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert set(m["files"]) == on_disk
    for name, entry in m["backends"].items():
        assert entry["warp_impl"] == WARP_VARIANTS[name][0]
        # The clamp of a gather/scatter-free splatting is recorded; the exact scatter has none.
        expected_radius = None if entry["warp_impl"] == "scatter" else model.config.separable_radius
        assert entry.get("warp_radius") == expected_radius
        for g in entry["graphs"].values():
            assert g["coverage"]["total"] > 0 and g["macs"] > 0
    # ExecuTorch and LiteRT keep both motion graphs in one file (a method / signature each), with each
    # weight stored once; ONNX and Core ML have a file per graph.
    conv = max((p for p in model.flow.parameters() if p.dim() == 4), key=lambda p: p.numel()).detach()
    weight = conv.permute(0, 2, 3, 1).contiguous().numpy().astype("<f4").tobytes()  # both store OHWI
    for name, suffix in (("et", ".pte"), ("litert", ".tflite")):
        graphs = m["backends"][name]["graphs"]
        assert graphs["motion"]["file"] == graphs["motion_96x160"]["file"] == f"{name}/motion{suffix}"
        assert (graphs["motion"]["method"], graphs["motion_96x160"]["method"]) == ("motion", "motion_96x160")
        assert "method" not in graphs["synth"]
        assert (bundle / name / f"motion{suffix}").read_bytes().count(weight) == 1
    assert "method" not in m["backends"]["onnx"]["graphs"]["motion"]


@pytest.mark.parametrize("backend", ["onnx", "et", "litert"])
def test_graphs_match_eager(exported, backend):
    bundle, _, model = exported
    loaded = load_bundle(bundle, backend)
    specs = build_graphs(model, backend, canvas=CANVAS, tile=TILE, fine_canvases=(FINE,))
    assert set(specs) == {"motion", "motion_96x160", "synth"}
    for name, spec in specs.items():
        run = loaded.load_graph(backend, name, threads=1)
        with torch.no_grad():
            ref = spec.module(*spec.example_inputs)
        ref = ref if isinstance(ref, tuple) else (ref,)
        outs = run(list(spec.example_inputs))
        for o, r in zip(outs, ref, strict=True):
            assert o.shape == r.shape
            assert (o - r).abs().max() <= 1e-4 * max(1.0, float(r.abs().max()))


def test_motion_consensus_exports_to_every_backend(tmp_path):
    """The flow consensus (the shipped models' last motion step) in each backend's motion graph: the
    exported form reads the other flow through the row gathers, eager through grid_sample. Core ML:
    converted and validated, not executed (Linux)."""
    model = tiny_model("apr-s", motion_consensus=True)
    plain = models.with_config(model, motion_consensus=False)
    for backend in ("onnx", "et", "litert", "coreml"):
        spec = build_graphs(model, backend, canvas=CANVAS, tile=TILE, fine_canvases=())["motion"]
        mod = backends.get(backend)
        path = tmp_path / f"motion-{backend}{mod.SUFFIX}"
        coverage = mod.lower(spec, path)
        assert coverage["total"] > 0
        if not mod.RUNNABLE:
            continue
        with torch.no_grad():
            ref = torch.cat(spec.module(*spec.example_inputs), 0)
            without = torch.cat(plain.motion(*spec.example_inputs), 0)
        out = torch.cat(mod.load(path, threads=1)(list(spec.example_inputs)), 0)
        assert (out - ref).abs().max() <= 1e-4 * max(1.0, float(ref.abs().max())), backend
        assert (ref - without).abs().max() > 1e-2  # the graph holds the consensus, not the plain flow


@pytest.mark.parametrize("backend", ["onnx", "et", "litert"])
def test_bundle_runner_matches_eager_on_odd_sizes(exported, backend):
    """Same TilePlan, same canvases: the bundle's frames equal eager PyTorch's (≥ 50 dB); the fine
    canvas's motion graph runs where the frame is large enough for it, not on smaller frames."""
    bundle, _, model = exported
    bb = BundleBackend(load_bundle(bundle, backend), backend, threads=1)
    eager = EagerBackend(
        with_warp(model, WARP_VARIANTS[backend][0]), max_batch=1, canvas_hw=CANVAS, tile=TILE, fine_canvases=(FINE,)
    )
    # The untrained tiny model's motion is far beyond its reach: grant it any motion, so the rule
    # picks the fine canvas wherever the frame allows (the same reach in both backends).
    bb.motion_reach = eager.motion_reach = float("inf")
    for (h, w), canvas in (((45, 77), CANVAS), ((131, 203), FINE)):
        a, b = moving_pair(h, w, dx=4, dy=-2)
        assert Runner(bb).prepare(a, b).canvas_hw == Runner(eager).prepare(a, b).canvas_hw == canvas
        (got,) = Runner(bb, overlap=bb.overlap).interpolate(a, b, [0.5])
        (want,) = Runner(eager, overlap=bb.overlap).interpolate(a, b, [0.5])
        assert got.shape == (1, 3, h, w)
        mse = float(((got - want) ** 2).mean())
        # On the fine canvas the untrained model's motion spans tens of frame pixels, so the graphs'
        # float differences (≤ 1e-4 of the canvas) move splats further: measured 49.3 dB on ExecuTorch.
        assert mse == 0 or 10 * torch.log10(torch.tensor(1 / mse)) >= (50 if canvas == CANVAS else 45)


def test_check_report_passes(exported, tmp_path):
    bundle, ckpt, _ = exported
    report = check(bundle, backend_names=["onnx", "coreml"], checkpoint=ckpt, threads=1, log=lambda *_: None)
    assert report["pass"]
    onnx = report["backends"]["onnx"]
    assert onnx["graphs"]["synth"]["max_abs"] <= 1e-4 and onnx["summary"]["min_psnr_vs_reference"] >= 50
    assert report["backends"]["coreml"]["executed"] is False
    assert report["reference"]["device"] == "cpu"


def test_reference_file_round_trip(exported, tmp_path):
    bundle, ckpt, model = exported
    from export.parity import make_reference, read_reference

    ref = tmp_path / "ref.npz"
    make_reference(load_bundle(bundle), model, ref)
    meta, arrays = read_reference(ref, load_bundle(bundle))
    assert meta["device"] == "cpu" and meta["tf32"] is False and arrays
    report = check(bundle, backend_names=["onnx"], reference=ref, checkpoint=ckpt, threads=1, log=lambda *_: None)
    assert report["pass"] and report["reference"]["file"] == str(ref)


def test_strict_fp32_turns_tf32_off_inside_and_restores_it():
    """A CUDA reference must be FP32: cuDNN's TF32 default put one 1.0e-4 off the CPU's."""
    from export.parity import strict_fp32

    flags = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = [f.allow_tf32 for f in flags]
    try:
        for f in flags:
            f.allow_tf32 = True
        with pytest.raises(RuntimeError, match="inside"), strict_fp32():
            assert not any(f.allow_tf32 for f in flags)
            raise RuntimeError("inside")
        assert all(f.allow_tf32 for f in flags)
    finally:
        for f, v in zip(flags, saved, strict=True):
            f.allow_tf32 = v


def test_make_reference_needs_only_the_manifest(exported, tmp_path, capsys):
    """A GPU machine gets the manifest and the checkpoint, not the artifacts: the CLI's reference
    from the manifest alone equals the one made from the full bundle, and checks the full bundle."""
    bundle, ckpt, model = exported
    from export.parity import make_reference, read_reference

    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copyfile(bundle / "manifest.json", bare / "manifest.json")
    with pytest.raises(BundleError, match="missing"):
        load_bundle(bare)
    ref = tmp_path / "ref.npz"
    assert main(["check", str(bare), "--make-reference", str(ref), "--checkpoint", str(ckpt)]) == 0
    assert "wrote reference" in capsys.readouterr().out
    full = tmp_path / "full.npz"
    make_reference(load_bundle(bundle), model, full)
    _, got = read_reference(ref, load_bundle(bundle))
    _, want = read_reference(full, load_bundle(bundle))
    assert got.keys() == want.keys() and all((got[k] == want[k]).all() for k in want)
    (bare / "manifest.json").write_text("{}")
    assert main(["check", str(bare), "--make-reference", str(tmp_path / "x.npz")]) != 0
    assert "not an EdgeVFI bundle manifest" in capsys.readouterr().err


def _copy(bundle: Path, dest: Path) -> Path:
    shutil.copytree(bundle, dest)
    return dest


def test_tampered_or_truncated_artifact_is_refused(exported, tmp_path):
    bundle, _, _ = exported
    bad = _copy(bundle, tmp_path / "tampered")
    art = bad / "onnx" / "synth.onnx"
    data = bytearray(art.read_bytes())
    data[len(data) // 2] ^= 0xFF
    art.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(bad, "onnx")
    load_bundle(bad, "et")  # other backends' files are intact
    short = _copy(bundle, tmp_path / "truncated")
    pte = short / "et" / "motion.pte"
    pte.write_bytes(pte.read_bytes()[:1000])
    with pytest.raises(BundleError, match="tampered or truncated"):
        load_bundle(short, "et")
    gone = _copy(bundle, tmp_path / "missing")
    (gone / "litert" / "synth.tflite").unlink()
    with pytest.raises(BundleError, match="missing"):
        load_bundle(gone, "litert")


def test_cli_errors_are_one_line(exported, tmp_path, capsys):
    bundle, _, _ = exported
    a, b = moving_pair(40, 56)
    from edgevfi.io import save_image

    save_image(a[0], tmp_path / "a.png")
    save_image(b[0], tmp_path / "b.png")
    cases = [
        (["export", "--backend", "tpu", "--out", str(tmp_path / "x")], "unknown backend 'tpu'"),
        (["export", "--out", str(bundle)], "already exists"),
        (["check", str(tmp_path / "nope")], "no such bundle"),
        (["check", str(bundle), "--backend", "foo"], "unknown backend"),
        (
            [
                "interpolate",
                str(tmp_path / "a.png"),
                str(tmp_path / "b.png"),
                "-o",
                str(tmp_path / "o.png"),
                "--bundle",
                str(bundle),
                "--backend",
                "coreml",
            ],
            "cannot run on Linux",
        ),
        (
            [
                "interpolate",
                str(tmp_path / "a.png"),
                str(tmp_path / "b.png"),
                "-o",
                str(tmp_path / "o.png"),
                "--backend",
                "et",
            ],
            "pass --bundle",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "x").exists()


def test_cli_interpolates_with_a_bundle(exported, tmp_path, capsys):
    bundle, _, _ = exported
    a, b = moving_pair(50, 70)
    from edgevfi.io import save_image

    save_image(a[0], tmp_path / "a.png")
    save_image(b[0], tmp_path / "b.png")
    out = tmp_path / "mid.png"
    argv = ["interpolate", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(out), "--bundle", str(bundle)]
    assert main([*argv, "--backend", "litert", "--threads", "1"]) == 0
    assert out.is_file() and "litert bundle" in capsys.readouterr().out


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(backends.BackendError, match="unknown backend 'tpu'"):
        backends.parse_backends("et,tpu")


@pytest.mark.parametrize("width", [11, 12], ids=["per-tap convs", "block matmuls"])
def test_exported_correlation_forms_equal_the_reduction(width):
    """Width 11 takes the per-tap form (not a multiple of 2R = 4), width 12 the block matrix products;
    both equal the plain per-tap channel sums, zeros outside the frame, and so do training's tap sums
    and their hand-written gradients."""
    g = torch.Generator().manual_seed(0)
    f0, f1 = torch.rand(2, 8, 9, width, generator=g), torch.rand(2, 8, 9, width, generator=g)
    got = local_correlation(f0, f1, 2)
    from edgevfi.models.blocks import channel_norm

    n0 = channel_norm(f0) / 8**0.5
    n1 = torch.nn.functional.pad(channel_norm(f1) / 8**0.5, (2, 2, 2, 2))
    taps = [
        (n0 * n1[:, :, 2 + dy : 11 + dy, 2 + dx : width + 2 + dx]).sum(1) for dy in range(-2, 3) for dx in range(-2, 3)
    ]
    assert torch.allclose(got, torch.stack(taps, 1), atol=1e-6)
    assert torch.allclose(local_correlation(f0, f1, 2, channel_sums=True), got, atol=1e-6)
    w = torch.randn(got.shape, generator=g)
    grads = []
    for sums in (False, True):
        a, b = f0.clone().requires_grad_(), f1.clone().requires_grad_()
        (local_correlation(a, b, 2, channel_sums=sums) * w).sum().backward()
        grads.append((a.grad, b.grad))
    for ref, fast in zip(*grads, strict=True):
        assert torch.allclose(fast, ref, atol=1e-5)


def test_block_matmul_correlation_rejects_a_width_off_its_blocks():
    from edgevfi.models.blocks import block_matmul_correlation

    with pytest.raises(ValueError, match="multiple of 2R = 4"):
        block_matmul_correlation(torch.rand(1, 4, 5, 10), torch.rand(1, 4, 5, 10), 2)


def test_routed_model_exports_static_topk_to_onnx(tmp_path):
    """A routed APR model's ONNX synth graph is the static top-k variant and matches eager top-k."""
    model = tiny_model("apr-s", route_mode="router")
    torch.nn.init.constant_(model.router.linear.bias, -0.5)
    spec = build_graphs(model, "onnx", canvas=CANVAS, tile=TILE)["synth"]
    assert spec.module.model.config.route_mode == "topk"
    path = tmp_path / "synth.onnx"
    cov = backends.get("onnx").lower(spec, path)
    assert "TopK" in cov["ops"]
    out = backends.get("onnx").load(path, threads=1)(list(spec.example_inputs))[0]
    with torch.no_grad():
        dynamic = with_warp(model, "scatter").synthesize(*spec.example_inputs)
    assert (out - dynamic).abs().max() <= 1e-4


def test_cli_eval_runs_a_bundle(exported, tmp_path, capsys):
    bundle, _, model = exported
    from edgevfi.io import save_image

    seq = tmp_path / "data" / "seq"
    seq.mkdir(parents=True)
    a, b = moving_pair(48, 64, dx=4, dy=2)
    _, mid = moving_pair(48, 64, dx=2, dy=1)
    for name, img in (("im1", a), ("im2", mid), ("im3", b)):
        save_image(img[0], seq / f"{name}.png")
    out = tmp_path / "r.json"
    argv = ["eval", str(tmp_path / "data"), "--bundle", str(bundle), "--backend", "onnx", "--json", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["n"] == 1 and result["model"] == "tiny-apr (onnx bundle)"
    from edgevfi.evaluate import evaluate

    eager = EagerBackend(with_warp(model, WARP_VARIANTS["onnx"][0]), max_batch=1, canvas_hw=CANVAS, tile=TILE)
    want = evaluate(Runner(eager, overlap=32), tmp_path / "data", "eager")
    assert abs(result["mean_psnr"] - want["mean_psnr"]) <= 0.01
    # Motion TTA runs the bundle's static motion graph on the mirrored frames too, as eager does.
    assert main([*argv, "--motion-tta", "2"]) == 0
    tta = json.loads(out.read_text())
    assert tta["model"] == "tiny-apr (onnx bundle) (motion TTA ×2)"
    want = evaluate(Runner(eager, overlap=32, motion_tta=2), tmp_path / "data", "eager")
    assert abs(tta["mean_psnr"] - want["mean_psnr"]) <= 0.01


def test_eager_cost_volumes_sum_taps_and_exported_graphs_take_a_matmul_per_tap_row():
    """Eager inference takes the tap sums; torch.export, which every backend starts from, sees one
    batched matrix product per row of taps of each cost volume of radius 2 or more (no per-tap slices
    or convolutions: hundreds of small memory-bound operators), and a ±1 volume, whose blocks would be
    2 pixels wide, tap by tap (one 1×1 convolution per tap); outputs equal to eager's."""
    torch.manual_seed(0)
    pyramid = FlowPyramid((8, 8, 8), radius=2, feat=8, refine_radii=(1, 2)).eval()
    g = torch.Generator().manual_seed(0)
    pair = (torch.rand(1, 3, 64, 64, generator=g), torch.rand(1, 3, 64, 64, generator=g))
    assert eager_tap_sums()
    program = torch.export.export(pyramid, pair, strict=False)
    calls = [node for node in program.graph.nodes if node.op == "call_function"]
    bmms = [n for n in calls if "bmm" in str(n.target)]
    # Tap rows of the ±2 global volume and the ±2 warped one: 5 + 5; each product is a block of
    # b = 2R pixels against its 2b-pixel window, for both directions (batch 2).
    assert len(bmms) == 10
    assert {tuple(n.meta["val"].shape[1:]) for n in bmms} == {(4, 8)}

    # The ±1 warped volume: each tap's channel sum is a 1×1 convolution of f0 times a shifted slice of f1.
    def is_tap_sum(node: torch.fx.Node) -> bool:
        x = node.args[0]
        return "mul" in str(x.target) and any("slice" in str(getattr(a, "target", "")) for a in x.args)

    assert sum(is_tap_sum(n) for n in calls if "conv" in str(n.target)) == 9
    with torch.no_grad():
        eager, exported = pyramid(*pair)[0], program.module()(*pair)[0]
    # Flows of up to 16 px; the channel sums' order differs between the forms (and with the thread
    # count), and the soft-argmax (temperature 100) amplifies that rounding: 4.3e-5 to 8.0e-5 px on
    # one thread over 8 initialisations, 0 on two (per-tap form). A wrong tap would be off by pixels.
    assert (eager - exported).abs().max() <= 2e-4


def test_mac_counts_see_the_cost_volumes_as_exported():
    """Under ``exported_cost_volumes`` (how ``count_macs`` counts) the FLOP counter sees each cost
    volume's block matrix products (per tap row, pixel and direction: 2b = 4R columns × channels; a ±1
    volume's per-tap 1×1 convolutions instead, one per tap) and its 1×1 convolutions of channel
    statistics even though eager inference sums taps, and the eager form is switched back on after it."""
    pyramid = FlowPyramid((8, 8, 8), radius=2, feat=8, refine_radii=(1, 2)).eval()
    pair = (torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    flops = []
    for exported in (False, True):
        with torch.no_grad(), exported_cost_volumes(pyramid) if exported else nullcontext():
            with FlopCounterMode(display=False) as counter:
                pyramid(*pair)
        flops.append(counter.get_total_flops())
    # (radius, channels, pixels) of the 1/8 global volume and the 1/4 and 1/2 warped ones, both directions.
    volumes = ((2, 8, 8 * 8), (1, 8, 16 * 16), (2, 4, 32 * 32))
    # Per pixel and direction: the tap rows' products (or the taps' sums), and the two maps' channel
    # means and variances.
    taps = {1: 9, 2: 5 * 8}
    assert (flops[1] - flops[0]) // 2 == sum(2 * (taps[r] + 4) * ch * px for r, ch, px in volumes)
    assert pyramid.tap_sums


def test_export_without_the_consensus_keeps_parity(tmp_path):
    """``edgevfi export --motion-consensus off`` bakes the plain flow into the motion graphs of a model whose
    checkpoint has the consensus on; the parity reference follows the manifest's setting, so the bundle
    checks against the model it holds, not the checkpoint's default."""
    model = tiny_model("apr-s", motion_consensus=True)
    ckpt = save_checkpoint(model, tmp_path / "tiny.safetensors")
    bundle = tmp_path / "plain"
    args = ["--checkpoint", str(ckpt), "--backend", "onnx", "--canvas", "96x64", "--tile", "128"]
    assert main(["export", *args, "--fine-canvases", "none", "--motion-consensus", "off", "--out", str(bundle)]) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"]["config"]["motion_consensus"] is False
    loaded = load_bundle(bundle, "onnx")
    assert not source_model(loaded, ckpt).config.motion_consensus
    run = loaded.load_graph("onnx", "motion", threads=1)
    a, b = moving_pair(64, 96, dx=4, dy=-2)
    with torch.no_grad():
        plain = torch.cat(models.with_config(model, motion_consensus=False).motion(a, b), 0)
        agreed = torch.cat(model.motion(a, b), 0)
    out = torch.cat(run([a, b]), 0)
    assert (out - plain).abs().max() <= 1e-4 * max(1.0, float(plain.abs().max()))
    assert (agreed - plain).abs().max() > 1e-2  # the two settings differ, so the check below can tell them apart
    report = check(bundle, backend_names=["onnx"], checkpoint=ckpt, threads=1, log=lambda *_: None)
    assert report["pass"]


def test_export_with_a_smaller_halo_tiles_by_it(tmp_path, capsys):
    """``edgevfi export --halo 16`` records the halo in the manifest: the bundle's Runner tiles with it (fewer
    windows than the checkpoint's 32 would take), and the parity reference follows it, so the check passes."""
    model = tiny_model("apr-s")
    assert model.config.halo == 32
    ckpt = save_checkpoint(model, tmp_path / "tiny.safetensors")
    args = ["--checkpoint", str(ckpt), "--backend", "onnx", "--canvas", "96x64", "--tile", "128", "--fine-canvases"]
    for halo, message in ((20, "stride 56 must be a positive multiple of 32"), (-16, "must be >= 0")):
        assert main(["export", *args, "none", "--halo", str(halo), "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip()
        assert f"--halo {halo}" in err and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()
    bundle = tmp_path / "halo16"
    assert main(["export", *args, "none", "--halo", "16", "--out", str(bundle)]) == 0
    assert json.loads((bundle / "manifest.json").read_text())["halo"] == 16
    loaded = load_bundle(bundle, "onnx")
    runner = Runner(BundleBackend(loaded, "onnx", threads=1))
    frame_hw = (200, 330)
    assert runner.plan(frame_hw).halo == 16
    halo32 = Runner(EagerBackend(model), tile=128)
    assert len(runner.plan(frame_hw).windows()) < len(halo32.plan(frame_hw).windows())
    assert source_model(loaded, ckpt).config.halo == 16
    report = check(bundle, backend_names=["onnx"], checkpoint=ckpt, threads=1, log=lambda *_: None)
    assert report["pass"]
