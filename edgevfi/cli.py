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
        return load_checkpoint(args.checkpoint)
    name = args.model or models.default_model_name()
    if name not in models.list_models():
        raise CLIError(f"unknown model {name!r} (known: {', '.join(models.list_models())})")
    if name == "blend":
        return models.create(name)
    if models.shipped_weights(name) is None:
        raise CLIError(f"model {name!r} has no shipped weights; pass --checkpoint PATH")
    return models.create(name, pretrained=True)


def _parse_t(value: str) -> float:
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"t must be a number in (0, 1), got {value!r}") from None
    if not 0.0 < t < 1.0:
        raise argparse.ArgumentTypeError(f"t must be strictly between 0 and 1, got {t}")
    return t


def cmd_interpolate(args: argparse.Namespace) -> int:
    import torch

    from edgevfi.data.triplets import load_image
    from edgevfi.io import check_output_path, save_image
    from edgevfi.runtime import EagerBackend, Runner

    inputs = [Path(p) for p in args.inputs]
    if len(inputs) != 2:
        raise CLIError("interpolate takes two images (A.png B.png)")
    out = check_output_path(args.output, args.overwrite)
    img0, img1 = (load_image(p) for p in inputs)
    if img0.shape != img1.shape:
        raise CLIError(
            f"{inputs[0]} is {img0.shape[2]}x{img0.shape[1]} but"
            f" {inputs[1]} is {img1.shape[2]}x{img1.shape[1]}:"
            " frames must have the same size"
        )
    model = _load_model(args)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    runner = Runner(EagerBackend(model, device=args.device), tile=args.tile)
    start = time.perf_counter()
    (frame,) = runner.interpolate(img0, img1, [args.t])
    elapsed = time.perf_counter() - start
    save_image(frame, out)
    H, W = img0.shape[-2:]
    print(f"wrote {out} ({W}x{H}, t={args.t}, model {model.config.family}, {elapsed:.2f} s)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Interpolate the middle of two frames of the shipped sample clip with the shipped default."""
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
    return cmd_interpolate(ns)


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
    from edgevfi.runtime import EagerBackend, Runner

    if args.json:
        check_path = Path(args.json)
        if not check_path.parent.exists():
            raise CLIError(f"{check_path}: output folder {check_path.parent} does not exist")
    model = _load_model(args)
    name = args.checkpoint or args.model or "default"
    runner = Runner(EagerBackend(model, device=args.device), tile=args.tile)
    result = evaluate(runner, args.data, name, limit=args.limit)
    print(
        f"{name}: {result['n']} triplets, PSNR {result['mean_psnr']:.3f} dB, SSIM {result['mean_ssim']:.4f}"
    )
    if args.json:
        from edgevfi.io import atomic_output

        out = Path(args.json)
        with atomic_output(out) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
        with atomic_output(out.with_suffix(".md")) as tmp:
            tmp.write_text(markdown_report(result))
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
                "shipped_weights": models.shipped_weights(name) is not None,
                "description": models.REGISTRY[name][2],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<8} {'params':>9} {'GMAC@720p':>10} {'weights':>8}  description")
    for r in rows:
        print(
            f"{r['name']:<8} {r['params']:>9,} {r['gmacs_720p']:>10.2f}"
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

    s = sub.add_parser("interpolate", help="interpolate between two images")
    s.add_argument("inputs", nargs="+", help="A.png B.png")
    s.add_argument("-o", "--output", required=True, help="output image path")
    s.add_argument("--t", type=_parse_t, default=0.5, help="time of the output frame, in (0, 1)")
    s.add_argument("--model", help="registered model name (default: the shipped default)")
    s.add_argument("--checkpoint", help="a .safetensors checkpoint (overrides --model)")
    s.add_argument("--tile", type=int, default=None, help="tile window size in pixels (default 384)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--threads", type=int, default=0)
    s.add_argument("--overwrite", action="store_true", help="replace an existing output file")
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
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("demo", help="interpolate the shipped sample with the shipped default model")
    s.add_argument("--out", default="out", help="folder for the demo outputs")
    s.add_argument("--frame", type=int, default=20, help="first frame of the pair in the sample clip")
    s.add_argument("--model", default=None)
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
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
