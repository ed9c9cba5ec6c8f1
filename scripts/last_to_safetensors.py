"""Turn a run's ``last.pt`` (the resumable state) into a safetensors checkpoint of its model.

    python scripts/last_to_safetensors.py runs/apr-s-2 [--out runs/apr-s-2/final.safetensors]

A run validates every ``val_every`` steps; its last step need not be one, so this is how the final
weights become a checkpoint that ``edgevfi eval`` and ``scripts/ship_checkpoint.py`` take.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from edgevfi import models
from edgevfi.checkpoint import load_checkpoint, save_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--out")
    args = p.parse_args()
    run = Path(args.run)
    cfg = json.loads((run / "config.json").read_text())
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    model = load_checkpoint(cfg["init"]) if cfg.get("init") else models.create(cfg["model"], **cfg["model_overrides"])
    model.load_state_dict(state["model"])
    out = Path(args.out) if args.out else run / "final.safetensors"
    save_checkpoint(model, out, extra={"step": int(state["step"])})
    print(f"wrote {out} (step {int(state['step'])})")


if __name__ == "__main__":
    main()
