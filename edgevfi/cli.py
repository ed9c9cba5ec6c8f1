"""``edgevfi`` command line: the top floor, the only module that may import every package.

Every verb turns bad input into one line on stderr and a non-zero exit (2 for bad input, 1 for a
failed check, 130 for Ctrl-C); set ``EDGEVFI_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_BAD_INPUT = 2


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _load_model(args: argparse.Namespace):
    """The model selected by ``--model`` / ``--checkpoint`` (default: the shipped default)."""
    from edgevfi import models
    from edgevfi.checkpoint import load_checkpoint

    if getattr(args, "checkpoint", None):
        return _with_motion_settings(load_checkpoint(args.checkpoint), args)
    name = args.model or models.default_model_name()
    if name not in models.list_models():
        raise CLIError(f"unknown model {name!r} (known: {', '.join(models.list_models())})")
    if name == "blend":
        return _with_motion_settings(models.create(name), args)
    if models.shipped_weights(name) is None:
        raise CLIError(f"model {name!r} has no shipped weights; pass --checkpoint PATH")
    return _with_motion_settings(models.create(name, pretrained=True), args)


def _with_motion_settings(model, args: argparse.Namespace):
    """``--fine-canvas N`` / ``--canvas-upscale X`` / ``--motion-consensus on|off``: the model with its
    motion-adaptive canvas capped at N (0: one fixed canvas) and at X × a smaller frame's size (1: never
    above the frame), and its flow consensus switched on or off."""
    from edgevfi import models

    changes: dict[str, float | bool] = {}
    side = getattr(args, "fine_canvas", None)
    if side is not None and side != model.config.fine_canvas_side:
        if side < 0:
            raise CLIError(f"--fine-canvas must be >= 0, got {side}")
        changes["fine_canvas_side"] = side
    upscale = getattr(args, "canvas_upscale", None)
    if upscale is not None and upscale != model.config.fine_canvas_upscale:
        if not upscale >= 1.0:
            raise CLIError(f"--canvas-upscale must be >= 1 (1: never above the frame), got {upscale}")
        changes["fine_canvas_upscale"] = upscale
    consensus = getattr(args, "motion_consensus", None)
    if consensus is not None:
        if not hasattr(model.config, "motion_consensus"):
            raise CLIError(f"--motion-consensus: a {model.config.family} model has no motion stage")
        if (consensus == "on") != model.config.motion_consensus:
            changes["motion_consensus"] = consensus == "on"
    return models.with_config(model, **changes) if changes else model


def _make_runner(args: argparse.Namespace):
    """``(Runner, name)``: eager PyTorch on the selected model, or a bundle on ``--backend``.

    Bundles come from ``edgevfi export``; the import of the ``export`` package is deferred so the
    eager path works without the export extras installed.
    """
    runner, name = _build_runner(args)
    tta = getattr(args, "motion_tta", 1)
    if tta != 1:
        backends = [runner.backend] + ([runner.router.accurate] if runner.router else [])
        for b in backends:
            if b.displacement_channels != 2:
                raise CLIError(
                    f"--motion-tta averages single flows; {b.name} has {b.displacement_channels} displacement "
                    "channels per pixel, not 2: use an apr-* model"
                )
        runner.motion_tta = tta
        name = f"{name} (motion TTA ×{tta})"
    return runner, name


def _build_runner(args: argparse.Namespace):
    import torch

    from edgevfi.runtime import EagerBackend, Runner

    threads = getattr(args, "threads", 0) or 0
    if threads:
        torch.set_num_threads(threads)
    bundle = getattr(args, "bundle", None)
    backend = getattr(args, "backend", None)
    _check_route_args(args)
    if bundle is None:
        if backend not in (None, "torch"):
            raise CLIError(f"--backend {backend} runs an exported bundle: pass --bundle DIR")
        if getattr(args, "route", None):
            return _eager_routed_runner(args)
        model = _load_model(args)
        name = str(args.checkpoint) if getattr(args, "checkpoint", None) else (args.model or _default_model())
        return Runner(EagerBackend(model, device=args.device), tile=args.tile), name
    if getattr(args, "checkpoint", None) or getattr(args, "model", None):
        raise CLIError("--bundle runs the bundle's own model: drop --model/--checkpoint")
    if getattr(args, "canvas_upscale", None) is not None:
        raise CLIError("--canvas-upscale is for eager runs: a bundle picks among its static motion canvases")
    if getattr(args, "motion_consensus", None) is not None:
        raise CLIError("--motion-consensus is for eager runs: a bundle's motion graphs hold its model's setting")
    fine = getattr(args, "fine_canvas", None)
    if fine not in (None, 0):
        raise CLIError(
            "--fine-canvas N is for eager runs: a bundle has static motion canvases (export --fine-canvases); "
            "--fine-canvas 0 runs it on its first canvas only"
        )
    backends, bundle_mod, _ = _export_package("running bundles")
    from export.routed import is_routed

    if is_routed(bundle):
        return _bundle_routed_runner(args, bundle, backend, threads)
    routing = [f"--{k.replace('_', '-')}" for k in ("route", "budget", "route_by", "threshold", "assessor")]
    if any(getattr(args, f[2:].replace("-", "_"), None) is not None for f in routing):
        raise CLIError(f"{bundle} is not a routed bundle: export one with edgevfi export --route FAST,ACCURATE")
    BackendError, BundleError = backends.BackendError, bundle_mod.BundleError
    BundleBackend, load_bundle = bundle_mod.BundleBackend, bundle_mod.load_bundle
    try:
        # One load verifies the hashes: of every file when the backend is still to be chosen.
        loaded = load_bundle(bundle, backend)
        if backend is None:
            runnable = [b for b, e in loaded.manifest["backends"].items() if e["runnable"]]
            if not runnable:
                raise CLIError(f"{bundle}: bundle has no backend that runs on this machine")
            backend = runnable[0]
        bb = BundleBackend(loaded, backend, threads, fine_canvases=fine != 0)
    except (BundleError, BackendError) as e:
        raise CLIError(str(e)) from None
    if args.tile not in (None, bb.tile):
        raise CLIError(f"{bundle} was exported for {bb.tile}px tiles; drop --tile or re-export")
    return Runner(bb, overlap=bb.overlap), f"{loaded.manifest['model']['name']} ({backend} bundle)"


def _check_route_args(args: argparse.Namespace) -> None:
    budget = getattr(args, "budget", None)
    if budget is not None and not 0.0 <= budget <= 1.0:
        raise CLIError(f"--budget must be in [0, 1], got {budget}")
    routed_only = ("budget", "route_by", "threshold", "assessor")
    if not getattr(args, "route", None) and not getattr(args, "bundle", None):
        given = [f"--{k.replace('_', '-')}" for k in routed_only if getattr(args, k, None) is not None]
        if given:
            raise CLIError(f"{', '.join(given)} apply to routed runs: add --route FAST,ACCURATE")


def _router_settings(args: argparse.Namespace) -> dict:
    budget = 0.3 if getattr(args, "budget", None) is None else args.budget
    return {"budget": budget, "granularity": args.route_by or "tile", "threshold": args.threshold}


def _routed_name(fast: str, accurate: str, settings: dict, where: str = "") -> str:
    how = f"threshold {settings['threshold']}" if settings["threshold"] is not None else f"budget {settings['budget']}"
    return f"{fast}|{accurate} per {settings['granularity']}, {how}{where}"


def _eager_routed_runner(args: argparse.Namespace):
    """``--route FAST,ACCURATE`` on eager PyTorch, with the shipped (or ``--assessor``) assessor."""
    from edgevfi import models
    from edgevfi.checkpoint import CheckpointError, load_assessor
    from edgevfi.runtime import EagerBackend, Router, Runner
    from edgevfi.runtime.routing import EagerAssessBackend

    if getattr(args, "checkpoint", None) or getattr(args, "model", None):
        raise CLIError("--route names the fast and accurate models: drop --model/--checkpoint")
    names = [n.strip() for n in args.route.split(",")]
    if len(names) != 2 or not all(names):
        raise CLIError(f"--route takes two model names FAST,ACCURATE, got {args.route!r}")
    pair = []
    for n in names:
        if n not in models.list_models():
            raise CLIError(f"unknown model {n!r} in --route (known: {', '.join(models.list_models())})")
        if models.shipped_weights(n) is None:
            raise CLIError(f"model {n!r} in --route has no shipped weights")
        pair.append(_with_motion_settings(models.create(n, pretrained=True), args))
    path = Path(args.assessor) if args.assessor else models.WEIGHTS_DIR / "dpa-s.safetensors"
    try:
        assessor, extra = load_assessor(path)
    except CheckpointError as e:
        raise CLIError(str(e)) from None
    settings = _router_settings(args)
    try:
        router = Router(
            EagerAssessBackend(assessor),
            EagerBackend(pair[1], device=args.device),
            calibration=extra.get("calibration"),
            **settings,
        )
    except ValueError as e:
        raise CLIError(str(e)) from None
    runner = Runner(EagerBackend(pair[0], device=args.device), tile=args.tile, router=router)
    return runner, _routed_name(names[0], names[1], settings)


def _bundle_routed_runner(args: argparse.Namespace, bundle: str, backend: str | None, threads: int):
    """A routed bundle (``edgevfi export --route``) on ``--backend``."""
    from edgevfi.runtime import Runner
    from export import backends
    from export.bundle import BundleError
    from export.routed import load_routed_bundle, routed_backends

    if getattr(args, "route", None):
        raise CLIError(f"{bundle} is a routed bundle with its own fast and accurate models: drop --route")
    try:
        routed = load_routed_bundle(bundle, backend)
        if backend is None:
            entries = routed.fast.manifest["backends"]
            runnable = [b for b in routed.manifest["assess"] if entries[b]["runnable"]]
            if not runnable:
                raise CLIError(f"{bundle}: bundle has no backend that runs on this machine")
            backend = runnable[0]
        settings = _router_settings(args)
        fast, router = routed_backends(routed, backend, threads, **settings)
    except (BundleError, backends.BackendError, ValueError) as e:
        raise CLIError(str(e)) from None
    if args.tile not in (None, fast.tile):
        raise CLIError(f"{bundle} was exported for {fast.tile}px tiles; drop --tile or re-export")
    names = (routed.fast.manifest["model"]["name"], routed.accurate.manifest["model"]["name"])
    return Runner(fast, overlap=fast.overlap, router=router), _routed_name(*names, settings, f" ({backend} bundle)")


def _parse_t(value: str) -> float:
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"t must be a number in (0, 1), got {value!r}") from None
    if not 0.0 < t < 1.0:
        raise argparse.ArgumentTypeError(f"t must be strictly between 0 and 1, got {t}")
    return t


def _video_arg(parser_name: str) -> Callable[[str], object]:
    """An argparse type from a ``edgevfi.video.parse_*`` function (imported lazily: PyAV is not needed for --help)."""

    def parse(value: str) -> object:
        from edgevfi import video

        try:
            return getattr(video, parser_name)(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = parser_name.removeprefix("parse_")
    return parse


#: Options of ``interpolate`` that only mean something for a video input (dest → flag), with their defaults.
_VIDEO_ONLY = {
    "factor": ("--factor", None),
    "fps": ("--fps", None),
    "slowmo": ("--slowmo", False),
    "slowmo_audio": ("--slowmo-audio", None),
    "no_audio": ("--no-audio", False),
    "codec": ("--codec", None),
    "crf": ("--crf", None),
    "bitrate": ("--bitrate", None),
    "preset": ("--preset", None),
    "max_frames": ("--max-frames", None),
    "size": ("--size", None),
    "cut_threshold": ("--cut-threshold", None),
    "json": ("--json", None),
}


def cmd_interpolate(args: argparse.Namespace) -> int:
    """Two images → one frame at ``--t``; or one video → an interpolated video (``edgevfi.video``)."""
    from edgevfi.video import is_image_path

    inputs = [Path(p) for p in args.inputs]
    if len(inputs) == 1 and not is_image_path(inputs[0]):
        return _interpolate_video(args, inputs[0])
    if len(inputs) != 2:
        raise CLIError("interpolate takes two images (A.png B.png) or one video (IN.mp4)")
    for dest, (flag, default) in _VIDEO_ONLY.items():
        if getattr(args, dest, default) != default:
            raise CLIError(f"{flag} applies to a video input, not to two images")
    return _interpolate_pair(args, inputs)


def _interpolate_pair(args: argparse.Namespace, inputs: list[Path]) -> int:

    from edgevfi.data.triplets import load_image
    from edgevfi.io import check_output_path, save_image

    t = args.t if args.t is not None else 0.5
    out = check_output_path(args.output, args.overwrite)
    img0, img1 = (load_image(p) for p in inputs)
    if img0.shape != img1.shape:
        raise CLIError(
            f"{inputs[0]} is {img0.shape[2]}x{img0.shape[1]} but"
            f" {inputs[1]} is {img1.shape[2]}x{img1.shape[1]}:"
            " frames must have the same size"
        )
    runner, name = _make_runner(args)
    start = time.perf_counter()
    (frame,) = runner.interpolate(img0, img1, [t])
    elapsed = time.perf_counter() - start
    save_image(frame, out)
    H, W = img0.shape[-2:]
    print(f"wrote {out} ({W}x{H}, t={t}, model {name}, {elapsed:.2f} s)")
    return 0


def _interpolate_video(args: argparse.Namespace, src: Path) -> int:
    """The video path of ``interpolate``: validate everything cheap first, then stream the clip."""
    import torch

    from edgevfi.io import atomic_output, check_output_path
    from edgevfi.video import (
        EncodeOptions,
        SceneTest,
        VideoOptions,
        check_video_output,
        default_codec,
        interpolate_video,
        probe,
        resolve_codec,
    )

    if getattr(args, "t", None) is not None:
        raise CLIError("--t applies to two images; for a video use --factor, --fps or --slowmo")
    factor, fps, slowmo = getattr(args, "factor", None), getattr(args, "fps", None), getattr(args, "slowmo", False)
    if fps is not None and factor is not None:
        raise CLIError("--fps and --factor cannot be combined (--fps sets the output rate directly)")
    if fps is not None and slowmo:
        raise CLIError("--fps and --slowmo cannot be combined (slow motion keeps the input frame rate)")
    if getattr(args, "slowmo_audio", None) is not None and not slowmo:
        raise CLIError("--slowmo-audio applies only with --slowmo")
    json_path = Path(args.json) if getattr(args, "json", None) else None
    if json_path is not None and not json_path.parent.exists():
        raise CLIError(f"{json_path}: output folder {json_path.parent} does not exist")
    probe(src)  # missing file, not a video, no video stream: before the model loads
    check_video_output(src, args.output)
    out = check_output_path(args.output, args.overwrite)
    cut = getattr(args, "cut_threshold", None)
    options = VideoOptions(
        factor=factor or 2,
        fps=fps,
        slowmo=slowmo,
        audio="drop" if getattr(args, "no_audio", False) else "copy",
        slowmo_audio=getattr(args, "slowmo_audio", None) or "drop",
        max_frames=getattr(args, "max_frames", None),
        size=getattr(args, "size", None),
        scene=SceneTest(cut_mad=cut) if cut is not None else SceneTest(),
        encode=EncodeOptions(
            codec=getattr(args, "codec", None),
            crf=getattr(args, "crf", None),
            bitrate=getattr(args, "bitrate", None),
            preset=getattr(args, "preset", None),
        ),
    )
    options.validate()
    resolve_codec(options.encode.codec or default_codec(out))
    runner, name = _make_runner(args)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    summary = interpolate_video(src, out, runner, options, model_name=name)
    if json_path is not None:
        with atomic_output(json_path) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
    for note in summary["notes"]:
        print(f"edgevfi: note: {note}", file=sys.stderr)
    what = {
        "factor": f"x{options.factor}",
        "slowmo": f"x{options.factor} slow motion",
        "fps": f"to {summary['fps_out']:g} fps",
    }[options.mode]
    print(
        f"wrote {out} ({what}: {summary['frames_in']} -> {summary['frames_out']} frames,"
        f" {summary['cuts']} cuts, {summary['duplicates']} duplicates, audio {summary['audio']},"
        f" model {name}, {summary['seconds']:.1f} s)"
    )
    return 0


def _default_model() -> str:
    from edgevfi import models

    return models.default_model_name()


def cmd_demo(args: argparse.Namespace) -> int:
    """The README's first command: the shipped clip → ×4 slow motion, plus one interpolated pair as PNGs."""
    import av
    import torch

    from edgevfi.io import save_image

    clip = Path(__file__).resolve().parent / "samples" / "pedestrians_10fps.mp4"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in (args.frame, args.frame + 1):
                rgb = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).float() / 255.0
                frames.append(rgb)
            if len(frames) == 2:
                break
    a_path, b_path = out_dir / "demo_frame0.png", out_dir / "demo_frame1.png"
    save_image(frames[0], a_path)
    save_image(frames[1], b_path)
    ns = argparse.Namespace(
        inputs=[str(a_path), str(b_path)],
        output=str(out_dir / "demo_interpolated.png"),
        t=0.5,
        model=args.model,
        checkpoint=None,
        tile=None,
        device="cpu",
        threads=0,
        overwrite=True,
    )
    rc = cmd_interpolate(ns)
    if rc:
        return rc
    # The video: 10 fps footage → ×4 slow motion (every original frame kept, three synthesized between
    # each pair, played at 10 fps = quarter speed). --max-frames keeps it to well under two minutes on
    # two CPU cores with the default model (~0.3 s per 768×576 synthesized frame).
    video = argparse.Namespace(
        inputs=[str(clip)],
        output=str(out_dir / "demo_slowmo.mp4"),
        t=None,
        model=args.model,
        checkpoint=None,
        tile=None,
        device="cpu",
        threads=0,
        overwrite=True,
        factor=4,
        slowmo=True,
        max_frames=args.max_frames or None,
        json=None,
    )
    return cmd_interpolate(video)


def cmd_train(args: argparse.Namespace) -> int:
    """Start or resume a training run (a YAML config and/or flags)."""
    import yaml

    from edgevfi.train.loop import TrainConfig, Trainer

    settings: dict = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise CLIError(f"{path}: no such training config")
        try:
            settings = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise CLIError(f"{path}: not valid YAML ({e})") from None
        if not isinstance(settings, dict):
            raise CLIError(f"{path}: expected a mapping of training settings")
    for key in (
        "model",
        "out",
        "steps",
        "batch",
        "crop",
        "lr",
        "device",
        "threads",
        "seed",
        "val_every",
        "init",
    ):
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    try:
        cfg = TrainConfig.from_dict(settings)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
    Trainer(cfg).train()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a model on a folder of Vimeo-layout triplets; JSON (+ Markdown beside it)."""
    from edgevfi.evaluate import evaluate, markdown_report

    if args.json:
        check_path = Path(args.json)
        if not check_path.parent.exists():
            raise CLIError(f"{check_path}: output folder {check_path.parent} does not exist")
    runner, name = _make_runner(args)
    result = evaluate(runner, args.data, name, limit=args.limit)
    share = f", {result['accurate_share']:.0%} to the accurate model" if "accurate_share" in result else ""
    print(f"{name}: {result['n']} triplets, PSNR {result['mean_psnr']:.3f} dB, SSIM {result['mean_ssim']:.4f}{share}")
    if args.json:
        from edgevfi.io import atomic_output

        out = Path(args.json)
        with atomic_output(out) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
        with atomic_output(out.with_suffix(".md")) as tmp:
            tmp.write_text(markdown_report(result))
    return 0


def _fine_canvas_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--fine-canvas",
        type=int,
        default=None,
        help="eager: longest side of the motion-adaptive canvas (default: the model's; 0: one fixed canvas, "
        "also with --bundle)",
    )
    s.add_argument(
        "--canvas-upscale",
        type=float,
        default=None,
        help="eager: how far the motion-adaptive canvas may exceed a smaller frame, as a factor (default: the "
        "model's, 2 for the shipped edge models; 1: never above the frame)",
    )
    s.add_argument(
        "--motion-consensus",
        choices=("on", "off"),
        default=None,
        help="eager: average the two flow directions after the last motion block (default: the model's, on "
        "for the shipped edge models)",
    )
    s.add_argument(
        "--motion-tta",
        type=int,
        choices=(1, 2, 4),
        default=1,
        help="average each motion pass over this many mirrorings of the pair (2: + left-right, 4: + up-down, "
        "both): 2 or 4 times the motion cost, for offline quality; apr-* models",
    )


def _bundle_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--bundle", help="run an exported bundle folder instead of eager PyTorch")
    s.add_argument("--backend", choices=("torch", "et", "litert", "onnx", "coreml"), help="runtime for --bundle")
    r = s.add_argument_group("difficulty-aware routing (VFI-DPA)")
    r.add_argument("--route", metavar="FAST,ACCURATE", help="route between two shipped models, e.g. apr-s,svmv-s")
    r.add_argument("--budget", type=float, help="share of tiles (or pairs) for the accurate model (default 0.3)")
    r.add_argument("--route-by", choices=("tile", "pair"), help="route each tile (default) or each frame pair")
    r.add_argument("--threshold", type=float, help="per pair: predicted PSNR gain (dB) that sends a pair accurate")
    r.add_argument("--assessor", help="assessor .safetensors (default: the shipped dpa-s)")


def _quiet_toolchains() -> None:
    """Silence the exporters' progress bars and deprecation chatter (EDGEVFI_DEBUG=1 keeps them)."""
    if os.environ.get("EDGEVFI_DEBUG"):
        return
    import logging
    import warnings

    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore")
    for name in ("coremltools", "torch.export", "torch._export", "onnxscript", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _export_package(verb: str):
    """``(backends, bundle, parity)`` modules of the export package, or a one-line install hint."""
    _quiet_toolchains()
    try:
        from export import backends, bundle, parity
    except ImportError as e:
        raise CLIError(f"{verb} needs the export extras (pip install -e '.[export]'): {e}") from None
    return backends, bundle, parity


def _parse_fine_canvases(text: str) -> tuple[tuple[int, int], ...]:
    """``--fine-canvases``: ``none`` or a comma list of WxH → ((H, W), ...)."""
    if text.strip().lower() == "none":
        return ()
    parse = _video_arg("parse_size")
    sizes = [parse(part) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected 'none' or WxH[,WxH...], got {text!r}")
    return tuple((h, w) for w, h in sizes)


def cmd_export(args: argparse.Namespace) -> int:
    """Export the selected model's static graphs into a bundle folder."""
    backends, bundle, _ = _export_package("export")
    BundleError, write_bundle = bundle.BundleError, bundle.write_bundle
    from edgevfi import models

    try:
        names = backends.parse_backends(args.backend)
    except backends.BackendError as e:
        raise CLIError(str(e)) from None
    if args.precision == "fp16" and names != ["coreml"]:
        raise CLIError("--precision fp16 applies to Core ML only (--backend coreml)")
    if args.precision != "int8" and (
        args.calib or args.keep_float or args.max_drop is not None or args.qat_steps or args.qat_lr is not None
    ):
        raise CLIError("--calib, --keep-float, --max-drop, --qat-steps and --qat-lr apply to --precision int8 only")
    out = Path(args.out)
    if args.route:
        return _export_routed(args, names, out)
    if args.assessor:
        raise CLIError("--assessor applies to routed bundles: add --route FAST,ACCURATE")
    model = _with_halo(_load_model(args), args.halo, args.tile)
    if args.checkpoint:
        source, name = Path(args.checkpoint), Path(args.checkpoint).stem
    else:
        name = args.model or models.default_model_name()
        source = models.shipped_weights(name)
    canvas = (args.canvas[1], args.canvas[0]) if args.canvas else None
    common = {"model_name": name, "source": source, "tile": args.tile, "warp": args.warp}
    if canvas:
        common["canvas"] = canvas
    if args.fine_canvases is not None:
        common["fine_canvases"] = args.fine_canvases
    try:
        if args.precision == "int8":
            _write_int8_bundle(args, model, out, names, common)
        else:
            write_bundle(model, out, names, precision=args.precision, **common)
    except (BundleError, ValueError) as e:
        raise CLIError(str(e)) from None
    print(f"wrote bundle {out} ({', '.join(names)}; model {name})")
    return 0


def _with_halo(model, halo: int | None, tile: int):
    """``export --halo N``: the model under a tile plan whose windows trust all but ``N`` pixels a side.

    The halo sets where a bundle's windows fall, not its graphs' shapes or values; it is recorded in the
    manifest, so every Runner (Python or the Kotlin app) tiles that bundle with it.
    """
    from edgevfi import models
    from edgevfi.runtime import TilePlan

    if halo is None or halo == model.config.halo:
        return model
    try:
        TilePlan((1, 1), tile=tile, halo=halo, align=model.config.align)  # the bundles' default overlap
    except ValueError as e:
        raise CLIError(f"--halo {halo}: {e}") from None
    return models.with_config(model, halo=halo)


def _export_routed(args: argparse.Namespace, backend_names: list[str], out: Path) -> int:
    """``export --route FAST,ACCURATE``: both models and the assessor's ``assess`` graph in one bundle."""
    from edgevfi import models
    from edgevfi.checkpoint import CheckpointError, load_assessor
    from export.bundle import BundleError
    from export.routed import write_routed_bundle

    if args.precision != "fp32" or args.checkpoint or args.model:
        raise CLIError("--route exports the two named shipped models in fp32: drop --precision/--model/--checkpoint")
    names = [n.strip() for n in args.route.split(",")]
    if args.halo is not None:
        raise CLIError("--halo applies to single-model bundles: drop it with --route")
    if len(names) != 2 or not all(n in models.list_models() and models.shipped_weights(n) for n in names):
        raise CLIError(f"--route takes two shipped model names FAST,ACCURATE, got {args.route!r}")
    assessor_path = Path(args.assessor) if args.assessor else models.WEIGHTS_DIR / "dpa-s.safetensors"
    try:
        assessor, extra = load_assessor(assessor_path)
        fast, accurate = (models.create(n, pretrained=True) for n in names)
        kw = {"canvas": (args.canvas[1], args.canvas[0])} if args.canvas else {}
        write_routed_bundle(
            fast,
            accurate,
            assessor,
            out,
            backend_names,
            names=(names[0], names[1]),
            sources=(models.shipped_weights(names[0]), models.shipped_weights(names[1])),
            assessor_source=assessor_path,
            calibration=extra.get("calibration"),
            tile=args.tile,
            **kw,
        )
    except (CheckpointError, BundleError, ValueError) as e:
        raise CLIError(str(e)) from None
    print(f"wrote routed bundle {out} ({', '.join(backend_names)}; fast {names[0]}, accurate {names[1]})")
    return 0


def _quantize_package(verb: str):
    """The quantize package (NNCF, PT2E routes), or a one-line install hint."""
    _export_package(verb)
    import logging

    if not os.environ.get("EDGEVFI_DEBUG"):
        logging.getLogger("nncf").setLevel(logging.ERROR)
    try:
        import nncf  # noqa: F401

        import quantize.calibration
        import quantize.int8
        import quantize.validate
    except ImportError as e:
        raise CLIError(f"{verb} needs the quantize extras (pip install -e '.[export,quantize]'): {e}") from None
    return quantize


def default_val() -> str | None:
    """The shared val triplets when present (evaluation only, never training)."""
    shared = Path("../shared/data/val")
    return str(shared) if shared.is_dir() else None


def default_calibration() -> str:
    """The shared training footage when present, else the shipped sample clip."""
    shared = Path("../shared/data")
    if (shared / "train").is_dir():
        return str(shared)
    return str(Path(__file__).resolve().parent / "samples" / "pedestrians_10fps.mp4")


def _write_int8_bundle(args, model, out: Path, names: list[str], common: dict) -> None:
    quantize = _quantize_package("export --precision int8")
    quantize.int8.check_int8_backends(names)  # before calibration, which takes a while
    calib = quantize.calibration.calibration_pairs(args.calib or default_calibration(), args.calib_count)
    keep = [k.strip() for k in (args.keep_float or "").split(",") if k.strip()]
    budget = {}
    if args.max_drop is not None:
        source = args.budget_data or args.calib or default_calibration()
        budget = {
            "max_drop": args.max_drop,
            "budget_triplets": quantize.calibration.holdout_triplets(source, args.budget_count),
        }
    quantize.int8.write_int8_bundle(
        model, out, names, calib, keep_float=keep, qat_steps=args.qat_steps, qat_lr=args.qat_lr, **budget, **common
    )


def _ratios(text: str, what: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CLIError(f"{what} must be comma-separated numbers in [0, 1), got {text!r}") from None
    if not values or not all(0.0 <= v < 1.0 for v in values):
        raise CLIError(f"{what} must be comma-separated numbers in [0, 1), got {text!r}")
    return values


def cmd_prune(args: argparse.Namespace) -> int:
    """Structured pruning of the synthesis stage (Torch-Pruning), a ratio sweep, optional fine-tuning."""
    quantize = _quantize_package("prune")
    import quantize.prune as prune
    from edgevfi.checkpoint import save_checkpoint
    from edgevfi.io import check_output_path
    from edgevfi.profile import count_params

    if (args.ratio is None) == (args.sweep is None):
        raise CLIError("give one of --ratio R (one pruned checkpoint) or --sweep R1,R2,... (Pareto table)")
    model = _load_model(args)
    if not hasattr(model, "refine"):
        raise CLIError(f"model {type(model).__name__} has no synthesis stage to prune")
    if args.ratio is not None and not 0.0 <= args.ratio < 1.0:
        raise CLIError(f"--ratio must be a number in [0, 1), got {args.ratio}")
    blocks = _ratios(args.block_ratios, "--block-ratios") if args.block_ratios else None
    out = Path(args.out)
    if args.sweep is None:
        out = check_output_path(out, overwrite=args.overwrite)
        if out.suffix != ".safetensors":
            raise CLIError(f"{out}: --out must be a .safetensors file for --ratio")
    elif out.exists() and not args.overwrite:
        raise CLIError(f"{out}: already exists (pass --overwrite)")
    elif not out.parent.exists():
        raise CLIError(f"{out}: parent folder {out.parent} does not exist")
    source = args.data or default_calibration()
    triplets = quantize.calibration.holdout_triplets(source, args.count)
    val = args.val or default_val()
    try:
        if args.sweep is not None:
            rows = prune.sweep(model, _ratios(args.sweep, "--sweep"), triplets, out, val, args.limit)
            print(prune.pareto_markdown(rows, (720, 1280)))
            return 0
        pruned = prune.prune_synthesis(model, args.ratio, triplets, block_ratios=blocks)
    except ValueError as e:
        raise CLIError(str(e)) from None
    # The figures travel in the checkpoint's metadata, so `edgevfi pipeline` reads them instead of recounting.
    extra = {"pruned_ratio": args.ratio, "block_ratios": blocks, "importance": source}
    extra.update(params=count_params(pruned), mac_ratio=round(prune.mac_ratio(pruned, model), 4))
    save_checkpoint(pruned, out, extra=extra)
    c = pruned.config
    print(f"wrote {out}: width {c.width}, inner {c.inner}, {extra['mac_ratio']:.3f}× the MACs at 720p")
    if args.finetune_steps:
        from edgevfi.train.loop import TrainConfig, Trainer

        run = Path(args.finetune_out or out.with_suffix(""))
        settings = {"model": args.model or "apr-s", "init": str(out), "out": str(run), "steps": args.finetune_steps}
        Trainer(TrainConfig.from_dict(settings)).train()
        print(f"fine-tuned in {run}; resume or extend with: edgevfi train --init {out} --out {run} --steps N")
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    """Run (or resume) a pipeline.yaml: prune → fine-tune → export → parity → INT8 → validate → bench."""
    _quantize_package("pipeline")
    from edgevfi.pipeline import Pipeline, PipelineError, load_pipeline, summary_markdown

    try:
        spec = load_pipeline(args.pipeline)
        if args.out:
            spec["out"] = args.out
        summary = Pipeline(spec, main).run()
    except PipelineError as e:
        raise CLIError(str(e)) from None
    print(summary_markdown(summary))
    failed = [n for n, r in summary["stages"].items() if r.get("pass") is False]
    if failed:
        print(f"gates failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Accuracy drop of a bundle vs its FP32 model per backend × dataset; exit 1 over budget."""
    quantize = _quantize_package("validate")
    from export import backends
    from export.bundle import BundleError, load_bundle
    from export.parity import source_model

    v = quantize.validate
    val = default_val()
    data = args.data or ([val] if val else None)
    if not data:
        raise CLIError("--data is required (no ../shared/data/val here): triplet folders or video files")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CLIError(f"{out}: output folder {out.parent} does not exist")
    if out.exists() and not args.overwrite:
        raise CLIError(f"{out}: already exists (pass --overwrite to replace it)")
    try:
        bundle = load_bundle(args.bundle)
        names = backends.parse_backends(args.backend) if args.backend else bundle.backends
        sequences = v.load_sequences(data, args.limit)
        model = source_model(bundle, args.checkpoint)
    except (BundleError, backends.BackendError, ValueError) as e:
        raise CLIError(str(e)) from None
    command = "edgevfi " + " ".join(args.argv)
    tmp = out.parent / f".{out.name}.tmp"
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    try:
        report = v.validate(bundle, names, sequences, tmp, args.max_drop, model, args.threads, command=command)
    except (BundleError, ValueError) as e:
        raise CLIError(str(e)) from None
    (tmp / "report.json").write_text(json.dumps(report, indent=2))
    v.plot_drop_by_motion(report, tmp / "drop_by_motion.png")
    md = v.markdown(report)
    (tmp / "report.md").write_text(md)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    os.replace(tmp, out)
    print(md)
    print(f"report: {out}/report.md ({'PASS' if report['pass'] else 'FAIL'})")
    return 0 if report["pass"] else 1


def cmd_check(args: argparse.Namespace) -> int:
    """Parity report of a bundle; exit 1 when a gate fails."""
    backends, bundle, parity = _export_package("check")
    BundleError, load_manifest_only = bundle.BundleError, bundle.load_manifest_only
    from edgevfi.io import atomic_output, check_output_path

    try:
        names = backends.parse_backends(args.backend) if args.backend else None
        if args.make_reference:
            out = check_output_path(args.make_reference, overwrite=False)
            # Eager PyTorch only: the artifacts need not be there (a GPU machine gets the manifest alone).
            bundle = load_manifest_only(args.bundle)
            model = parity.source_model(bundle, args.checkpoint)
            meta = parity.make_reference(bundle, model, out, args.device, args.data, args.limit)
            print(f"wrote reference {out} ({len(meta['sha256'])} arrays, device {meta['device_name']})")
            return 0
        if args.json:
            check_output_path(args.json, overwrite=True)
        report = parity.check(
            args.bundle,
            backend_names=names,
            data=args.data,
            limit=args.limit,
            reference=args.reference,
            checkpoint=args.checkpoint,
            threads=args.threads,
        )
    except (BundleError, backends.BackendError) as e:
        raise CLIError(str(e)) from None
    md = parity.markdown(report)
    if args.json:
        out = Path(args.json)
        with atomic_output(out) as tmp:
            tmp.write_text(json.dumps(report, indent=2))
        with atomic_output(out.with_suffix(".md")) as tmp:
            tmp.write_text(md)
    print(md)
    return 0 if report["pass"] else 1


def cmd_bench(args: argparse.Namespace) -> int:
    """Latency of a bundle (or the eager model) per graph and per output frame; schema-valid JSON."""
    backends, bundle_mod, _ = _export_package("bench")
    from edgevfi.io import atomic_output, check_output_path
    from export import latency

    try:
        size = latency.parse_size(args.size)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if args.backend not in latency.BENCH_BACKENDS:
        raise CLIError(f"unknown backend {args.backend!r} (choose from {', '.join(latency.BENCH_BACKENDS)})")
    if args.runs < 1 or args.warmup < 0 or args.threads < 0:
        raise CLIError("--runs must be ≥ 1, --warmup ≥ 0 and --threads ≥ 0")
    if args.json:
        check_output_path(args.json, overwrite=True)
    threads = args.threads or min(os.cpu_count() or 1, 4)
    try:
        if args.bundle is None:
            if args.backend != "torch":
                raise CLIError(f"--backend {args.backend} benchmarks an exported bundle: give BUNDLE")
            model = _load_model(args)
            from export.graphs import fine_canvases_for

            harness = latency.eager_harness(model, threads, fine_canvases=fine_canvases_for(model))
        else:
            chosen = bool(args.model or args.checkpoint)
            if chosen and args.backend != "torch":
                raise CLIError("--model/--checkpoint apply to --backend torch only")
            harness = latency.bundle_harness(args.bundle, args.backend, threads, _load_model(args) if chosen else None)
    except (bundle_mod.BundleError, backends.BackendError) as e:
        raise CLIError(str(e)) from None
    result = latency.run_bench(
        harness, args.backend, size, threads, args.runs, args.warmup, command="edgevfi " + " ".join(args.argv)
    )
    latency.validate_result(result)
    print(latency.markdown(result), end="")
    if args.json:
        with atomic_output(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from edgevfi import models
    from edgevfi.profile import count_macs, count_params

    rows = []
    for name in models.list_models():
        m = models.create(name)
        macs = count_macs(m, (720, 1280))
        rows.append(
            {
                "name": name,
                "params": count_params(m),
                "gmacs_720p": round(macs["total"] / 1e9, 2),
                # with the motion-adaptive canvas's second pass at its largest (small-motion pairs)
                "gmacs_720p_fine_canvas": round(macs["total_fine"] / 1e9, 2),
                "shipped_weights": models.shipped_weights(name) is not None,
                "description": models.REGISTRY[name][2],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<8} {'params':>9} {'GMAC@720p':>10} {'fine canvas':>12} {'weights':>8}  description")
    for r in rows:
        fine = f"{r['gmacs_720p_fine_canvas']:.2f}" if r["gmacs_720p_fine_canvas"] != r["gmacs_720p"] else "-"
        print(
            f"{r['name']:<8} {r['params']:>9,} {r['gmacs_720p']:>10.2f} {fine:>12}"
            f" {'yes' if r['shipped_weights'] else 'no':>8}"
            f"  {r['description']}"
        )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (the promise for every bad input)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="edgevfi", description="Video frame interpolation for phones and TVs.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser(
        "interpolate",
        help="interpolate between two images, or a whole video",
        description="Two images → the frame at --t. One video → ×2/4/8 (--factor), a target rate (--fps) or"
        " slow motion (--slowmo); audio kept, scene cuts never blended.",
    )
    s.add_argument("inputs", nargs="+", help="A.png B.png, or one video IN.mp4")
    s.add_argument("-o", "--output", required=True, help="output image (.png) or video (.mp4/.mov/.mkv/.webm)")
    s.add_argument("--t", type=_parse_t, default=None, help="two images: time of the output frame in (0, 1)")
    s.add_argument("--model", help="registered model name (default: the shipped default)")
    s.add_argument("--checkpoint", help="a .safetensors checkpoint (overrides --model)")
    s.add_argument("--tile", type=int, default=None, help="tile window size in pixels (default 448)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--threads", type=int, default=0)
    _fine_canvas_arg(s)
    _bundle_args(s)
    s.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    v = s.add_argument_group("video input")
    v.add_argument("--factor", type=int, choices=(2, 4, 8), help="frames per input frame (default 2)")
    v.add_argument("--fps", type=_video_arg("parse_fps"), help="target frame rate (60, 59.94, 60000/1001)")
    v.add_argument("--slowmo", action="store_true", help="keep every frame and stretch time by --factor")
    v.add_argument("--slowmo-audio", choices=("drop", "stretch"), help="slow-motion audio (default drop)")
    v.add_argument("--no-audio", action="store_true", help="drop the audio (default: copied unchanged)")
    v.add_argument("--codec", help="h264 (default), h265, vp9, av1, prores or an FFmpeg encoder name")
    v.add_argument("--crf", type=int, help="constant quality (default 18 for h264)")
    v.add_argument("--bitrate", type=_video_arg("parse_bitrate"), help="target bitrate, e.g. 8M (instead of --crf)")
    v.add_argument("--preset", help="encoder speed preset (x264/x265: ultrafast … veryslow; default medium)")
    v.add_argument("--max-frames", type=int, help="use only the first N input frames")
    v.add_argument("--size", type=_video_arg("parse_size"), help="rescale frames to WxH before interpolating")
    v.add_argument(
        "--cut-threshold", type=float, help="scene-cut mean luma difference in [0, 1] (default 0.12; 2 = off)"
    )
    v.add_argument("--json", help="write the run summary (frames, cuts, timings, model) as JSON here")
    s.set_defaults(func=cmd_interpolate)

    s = sub.add_parser("train", help="train (or resume) a model")
    s.add_argument("config", nargs="?", help="YAML file of training settings (flags override it)")
    s.add_argument("--model")
    s.add_argument("--init", help="checkpoint to start from")
    s.add_argument("--out", help="run folder (resumes if it holds last.pt)")
    s.add_argument("--steps", type=int)
    s.add_argument("--batch", type=int)
    s.add_argument("--crop", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--device")
    s.add_argument("--threads", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--val-every", dest="val_every", type=int)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("eval", help="evaluate on a folder of Vimeo-layout triplets")
    s.add_argument("data", help="folder searched recursively for im1/im2/im3.png")
    s.add_argument("--model")
    s.add_argument("--checkpoint")
    s.add_argument("--json", help="write the JSON result here (and a .md table beside it)")
    s.add_argument("--tile", type=int, default=None)
    s.add_argument("--limit", type=int, default=None)
    s.add_argument("--device", default="cpu")
    s.add_argument("--threads", type=int, default=0)
    _fine_canvas_arg(s)
    _bundle_args(s)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser(
        "export",
        help="export static-shape graphs to a bundle (ExecuTorch, LiteRT, Core ML, ONNX)",
        description="Writes a bundle folder: manifest.json + one artifact per graph per backend.",
    )
    s.add_argument("--model", help="registered model name (default: the shipped default)")
    s.add_argument("--checkpoint", help="a .safetensors checkpoint (overrides --model)")
    s.add_argument("--backend", default="et,litert,coreml,onnx", help="comma list of et, litert, coreml, onnx")
    s.add_argument("--out", required=True, help="new bundle folder")
    s.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "fp16", "int8"),
        help="fp16: Core ML only; int8: et, litert, onnx, coreml (NNCF, calibrated on --calib)",
    )
    s.add_argument(
        "--calib",
        help="int8 calibration frames: a data folder with train/, a triplet folder, a video, or 'generated' "
        "(default: ../shared/data if present, else the shipped sample clip)",
    )
    s.add_argument("--calib-count", type=int, default=32, help="calibration frame pairs (default 32)")
    s.add_argument("--keep-float", help="comma list of layer paths kept in float (e.g. refine.4,decode.full)")
    s.add_argument(
        "--max-drop",
        type=float,
        help="int8 accuracy budget in dB: keep the most sensitive layers float until the simulated drop fits",
    )
    s.add_argument("--budget-data", help="held-out triplets for --max-drop (default: the calibration source)")
    s.add_argument("--budget-count", type=int, default=8, help="triplets for --max-drop (default 8)")
    s.add_argument(
        "--qat-steps",
        type=int,
        default=0,
        help="int8: QAT steps per graph, starting from NNCF's PTQ (et, litert; 0 = PTQ)",
    )
    s.add_argument("--qat-lr", type=float, help="int8: QAT learning rate (default 1e-5)")
    s.add_argument("--canvas", type=_video_arg("parse_size"), help="motion canvas WxH (default 512x288)")
    s.add_argument(
        "--fine-canvases",
        type=_parse_fine_canvases,
        help="motion-adaptive second pass: comma list of larger canvases WxH, or 'none' (default: the model's, "
        "768x448,960x544,1280x736 for models with a 1280 fine canvas)",
    )
    s.add_argument("--tile", type=int, default=448, help="synthesis window in pixels, halo included (default 448)")
    s.add_argument(
        "--halo",
        type=int,
        help="context pixels a window is not trusted for, per side (default: the model's, 32); 16 takes 1080p and "
        "4K frames in 17 %% / 22 %% fewer synthesized pixels (benchmarks/tile_geometry.py)",
    )
    s.add_argument(
        "--warp", choices=("scatter", "window", "separable"), help="override the per-backend splatting variant"
    )
    s.add_argument(
        "--route", metavar="FAST,ACCURATE", help="a routed bundle: two shipped models + the assessor (VFI-DPA)"
    )
    s.add_argument("--assessor", help="assessor .safetensors for --route (default: the shipped dpa-s)")
    s.add_argument(
        "--motion-consensus",
        choices=("on", "off"),
        default=None,
        help="the flow consensus in the motion graphs (default: the model's, on for the shipped edge models; "
        "off: the graphs without it, two warps fewer on the last motion block's grid)",
    )
    s.set_defaults(func=cmd_export)

    s = sub.add_parser(
        "check",
        help="parity of a bundle's backends vs the FP32 PyTorch reference (JSON + Markdown)",
    )
    s.add_argument("bundle", help="bundle folder from edgevfi export")
    s.add_argument("--backend", help="comma list (default: every backend in the bundle)")
    s.add_argument("--data", help="folder of Vimeo-layout triplets for the end-to-end check")
    s.add_argument("--limit", type=int, default=None)
    s.add_argument("--reference", help="reference .npz from --make-reference (default: eager on this CPU)")
    s.add_argument("--make-reference", metavar="OUT.npz", help="write the FP32 reference here and stop")
    s.add_argument("--device", default="cpu", help="device of --make-reference (cpu, cuda)")
    s.add_argument("--checkpoint", help="the bundle's source checkpoint, if not at its recorded path")
    s.add_argument("--json", help="write the report here (and a .md beside it)")
    s.add_argument("--threads", type=int, default=0)
    s.set_defaults(func=cmd_check)

    s = sub.add_parser(
        "validate",
        help="accuracy drop of a (quantized) bundle vs its FP32 model; exit 1 over --max-drop",
        description="Per backend × dataset × sequence: PSNR/SSIM vs ground truth and vs FP32, the drop, "
        "motion buckets, worst crops; report.json + report.md + PNGs in --out.",
    )
    s.add_argument("bundle", help="bundle folder from edgevfi export")
    s.add_argument("--backend", help="comma list (default: every backend in the bundle)")
    s.add_argument("--data", nargs="+", help="triplet folders and/or video files (default: ../shared/data/val)")
    s.add_argument("--limit", type=int, default=None, help="at most this many triplets per dataset")
    s.add_argument("--max-drop", type=float, default=0.1, help="budget: mean PSNR drop in dB (default 0.1)")
    s.add_argument("--out", required=True, help="report folder")
    s.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    s.add_argument("--checkpoint", help="the bundle's source checkpoint, if not at its recorded path")
    s.add_argument("--threads", type=int, default=0)
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser(
        "prune",
        help="structured pruning of the synthesis stage (Torch-Pruning, Taylor importance on real frames)",
        description="--ratio R writes one pruned checkpoint (a plain smaller config: channel counts multiples "
        "of 8); --sweep R1,R2 writes one per ratio plus pareto.json/.md/.png (MACs vs val PSNR).",
    )
    s.add_argument("--model", help="registered model name (default: the shipped default)")
    s.add_argument("--checkpoint", help="a .safetensors checkpoint (overrides --model)")
    s.add_argument("--ratio", type=float, help="share of channels removed from every pruned group, in [0, 1)")
    s.add_argument("--block-ratios", help="comma list, one ratio per refine block (its inner width)")
    s.add_argument("--sweep", help="comma list of ratios: prune at each, score on --val, write the Pareto table")
    s.add_argument("--data", help="frames for the Taylor importance (default: ../shared/data or the sample clip)")
    s.add_argument("--count", type=int, default=16, help="triplets for the importance (default 16)")
    s.add_argument("--val", help="triplet folder scored by --sweep (default: ../shared/data/val if present)")
    s.add_argument("--limit", type=int, help="score only the first N val triplets")
    s.add_argument("--finetune-steps", type=int, default=0, help="then fine-tune N steps (the training loop)")
    s.add_argument("--finetune-out", help="run folder of the fine-tuning (default: beside --out)")
    s.add_argument("--out", required=True, help="pruned .safetensors (--ratio) or a new folder (--sweep)")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=cmd_prune)

    s = sub.add_parser(
        "pipeline",
        help="checkpoint → prune → fine-tune → export → parity → INT8 → validate → bench, resumable",
        description="Runs the stages of a pipeline YAML (see edgevfi/pipeline.py and pipeline.yaml), each into "
        "its own folder; finished stages are skipped on a rerun; summary.json/.md at the end. Exit 1 if a "
        "gate (parity, validate) fails.",
    )
    s.add_argument("pipeline", help="pipeline YAML")
    s.add_argument("--out", help="override the work folder (`out:` in the YAML)")
    s.set_defaults(func=cmd_pipeline)

    s = sub.add_parser(
        "bench",
        help="latency per graph and per output frame (tiled Runner); JSON per schemas/bench.schema.json",
        description="Times a bundle's graphs on one runtime (or the eager model with --backend torch): load time, "
        "per-graph p50/p90/trimmed mean, end-to-end time per output frame at --size, peak RSS, GMAC/s and its "
        "share of this machine's measured FP32 peak.",
    )
    s.add_argument("bundle", nargs="?", help="bundle folder (optional with --backend torch)")
    s.add_argument("--backend", required=True, help="et, litert, onnx or torch (eager PyTorch, the reference)")
    s.add_argument("--size", default="720p", help="output frame size: 360p, 720p, 1080p, 4k or WxH (default 720p)")
    s.add_argument("--threads", type=int, default=0, help="CPU threads (default: min(cores, 4))")
    s.add_argument("--runs", type=int, default=10, help="timed calls per graph (default 10)")
    s.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (default 2)")
    s.add_argument("--model", help="--backend torch: registered model (default: the bundle's / shipped default)")
    s.add_argument("--checkpoint", help="--backend torch: a .safetensors checkpoint")
    s.add_argument("--json", help="write the result here (schema edgevfi-bench/1)")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("demo", help="interpolate the shipped sample with the shipped default model")
    s.add_argument("--out", default="out", help="folder for the demo outputs")
    s.add_argument("--frame", type=int, default=20, help="first frame of the pair in the sample clip")
    s.add_argument("--model", default=None)
    s.add_argument(
        "--max-frames", type=int, default=30, help="sample frames turned into slow motion (0 = all 50; default 30)"
    )
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("models", help="list registered models with parameters and MACs")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_models)
    return p


def _user_errors() -> tuple[type[BaseException], ...]:
    from edgevfi.checkpoint import CheckpointError
    from edgevfi.io import OutputError

    errors: list[type[BaseException]] = [CLIError, CheckpointError, OutputError, FileNotFoundError]
    try:
        from edgevfi.data.triplets import DataError

        errors.append(DataError)
    except ImportError:  # pragma: no cover - data module always present in a full install
        pass
    try:
        from edgevfi.video import VideoError

        errors.append(VideoError)
    except ImportError:  # pragma: no cover - PyAV is a dependency, but keep image verbs usable without it
        pass
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the exact command, for reports
    func: Callable[[argparse.Namespace], int] = args.func
    debug = bool(os.environ.get("EDGEVFI_DEBUG"))
    try:
        return func(args)
    except KeyboardInterrupt:
        print("edgevfi: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as e:
        if debug:
            raise
        print(f"edgevfi: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:
        if debug:
            raise
        print(f"edgevfi: error: {type(e).__name__}: {e} (set EDGEVFI_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
