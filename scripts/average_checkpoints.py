"""Average the weights of several checkpoints of one architecture (a "model soup" / SWA over run ends).

    python scripts/average_checkpoints.py 27acef2:edgevfi/weights/apr-s.safetensors \
        cbf7a63:edgevfi/weights/apr-s.safetensors --config-from edgevfi/weights/apr-s.safetensors \
        --out out/soup/apr-s-29-32.safetensors

Each input is a safetensors checkpoint: a file, or ``REV:PATH`` for a file as committed at a git revision
(read with ``git show``, so a shipped checkpoint's history can be averaged without copies). Every input
must hold the same tensor names and shapes; floating-point tensors are averaged (``--weights`` gives each
input's share, default equal), integer buffers must agree. Why: each CPU run of the motion stage is one
cosine from the previous run's end, which is the cyclic schedule of stochastic weight averaging (Izmailov
et al., 2018); their ends lie in one basin, and the average of such points often generalises better than
any one of them. The output takes its config (inference settings included) from ``--config-from`` (default:
the last input) and records its sources in the metadata; it is written atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from edgevfi.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def resolve(spec: str, tmp: Path) -> Path:
    """A local path for ``spec``: the file itself, or ``REV:PATH`` extracted from git into ``tmp``."""
    if Path(spec).is_file() or ":" not in spec:
        return Path(spec)
    rev, path = spec.split(":", 1)
    out = tmp / f"{len(list(tmp.iterdir()))}-{Path(path).name}"
    res = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True)
    if res.returncode != 0:
        raise CheckpointError(f"{spec}: not found in git ({res.stderr.decode().strip().splitlines()[-1]})")
    out.write_bytes(res.stdout)
    return out


def average(states: list[dict[str, torch.Tensor]], weights: list[float], names: list[str]) -> dict[str, torch.Tensor]:
    """The weighted mean of ``states`` (same keys and shapes); integer tensors must be equal."""
    ref = states[0]
    for state, name in zip(states[1:], names[1:], strict=True):
        if set(state) != set(ref):
            diff = sorted(set(state) ^ set(ref))
            raise CheckpointError(f"{name}: tensor names differ from {names[0]} (e.g. {diff[0]})")
        bad = [k for k in ref if state[k].shape != ref[k].shape]
        if bad:
            raise CheckpointError(f"{name}: tensor shapes differ from {names[0]} (e.g. {bad[0]})")
    out = {}
    for k, v in ref.items():
        if v.is_floating_point():
            out[k] = sum(w * s[k].double() for w, s in zip(weights, states, strict=True)).to(v.dtype)
        else:
            for state, name in zip(states[1:], names[1:], strict=True):
                if not torch.equal(state[k], v):
                    raise CheckpointError(f"{name}: integer tensor {k} differs from {names[0]}")
            out[k] = v.clone()
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", help="checkpoints: files or REV:PATH")
    p.add_argument("--weights", help="comma-separated shares, one per input (normalised); default equal")
    p.add_argument("--config-from", help="checkpoint (file or REV:PATH) whose config the output takes")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        if len(args.inputs) < 2:
            raise CheckpointError("give at least two checkpoints to average")
        raw = [float(w) for w in args.weights.split(",")] if args.weights else [1.0] * len(args.inputs)
        if len(raw) != len(args.inputs) or min(raw) < 0 or sum(raw) <= 0:
            raise CheckpointError(f"--weights: need {len(args.inputs)} non-negative shares, got {args.weights!r}")
        weights = [w / sum(raw) for w in raw]
        if not args.out.parent.is_dir():
            raise CheckpointError(f"{args.out.parent}: no such folder")
        with tempfile.TemporaryDirectory() as td:
            paths = [resolve(s, Path(td)) for s in args.inputs]
            states = [load_checkpoint(path).state_dict() for path in paths]
            model = load_checkpoint(resolve(args.config_from, Path(td)) if args.config_from else paths[-1])
            mean = average(states, weights, args.inputs)
            expected = model.state_dict()
            if set(expected) != set(mean) or any(expected[k].shape != v.shape for k, v in mean.items()):
                raise CheckpointError(f"{args.config_from or args.inputs[-1]}: its config does not fit the inputs")
            model.load_state_dict(mean)
            sources = [
                {"source": s, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "weight": w}
                for s, path, w in zip(args.inputs, paths, weights, strict=True)
            ]
        save_checkpoint(model, args.out, extra={"averaged_from": sources})
    except (CheckpointError, ValueError) as e:
        sys.exit(f"average_checkpoints: {e}")
    print(f"{args.out}: mean of {len(sources)} checkpoints ({', '.join(f'{w:.3g}' for w in weights)})")


if __name__ == "__main__":
    main()
