"""Make the assessor's training labels: the fast and accurate shipped models on real training triplets.

    python scripts/dpa_labels.py --n 1200 --out cache/dpa/labels.npz

Triplets come from the training video sampler (``../shared/data/train`` + ``videos``, never val),
256×384 crops at t = 0.5 with strides 1–5 (small to large motion). See :mod:`edgevfi.train.dpa`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from edgevfi import models
from edgevfi.data.video import build_training_set
from edgevfi.train.dpa import make_labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", default="apr-s")
    p.add_argument("--accurate", default="svmv-s")
    p.add_argument("--n", type=int, default=1200)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--cache", default="cache/frames")
    p.add_argument("--out", default="cache/dpa/labels.npz")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(a.threads)
    ds = build_training_set(
        a.data,
        crop=(256, 384),
        seed=a.seed,
        cache_dir=a.cache,
        strides=(1, 5),
        p_arbitrary_t=0.0,
        color_jitter=0.0,
        return_meta=True,
    )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    fast = models.create(a.fast, pretrained=True)
    accurate = models.create(a.accurate, pretrained=True)
    make_labels(fast, accurate, ds, a.n, a.out, start=a.start)
    print(a.out)


if __name__ == "__main__":
    main()
