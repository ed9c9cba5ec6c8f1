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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgevfi", description="Video frame interpolation for phones and TVs.")
    sub = p.add_subparsers(dest="command", required=True)

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
