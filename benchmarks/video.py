"""Video ×2 at 720p through the whole pipeline: output frames/s and the share of decode / model / encode.

    python benchmarks/video.py [--clip ../shared/data/videos/sam2__01_dog.mp4] [--model apr-s]
                               [--max-frames N] [--threads 2] [--preset medium] [--out OUT.mp4]

The clip (real footage from the shared data, 1280×720 H.264 + AAC) is decoded with PyAV, scaled to
1280×720 on decode if it is another size, interpolated ×2 by the tiled Runner and encoded with
libx264 (CRF 18); the audio is remuxed. Timings come from the pipeline's own summary: decode (demux,
decode, RGB conversion, scene thumbnails), model (motion + synthesis + conversion to uint8) and encode
(RGB → YUV, x264, muxing). Output frames/s counts every written frame (copied and synthesized).
If the model has no shipped weights yet, the same architecture runs with random weights: the speed is
the same, only the pictures are meaningless (the run says so).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from edgevfi import models
from edgevfi.checkpoint import load_checkpoint
from edgevfi.runtime import EagerBackend, Runner
from edgevfi.video import EncodeOptions, VideoOptions, interpolate_video, probe

DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "sam2__01_dog.mp4"


def load(name: str, checkpoint: str | None) -> tuple[torch.nn.Module, str]:
    """The model to time and a label saying where its weights came from."""
    if checkpoint:
        return load_checkpoint(checkpoint), checkpoint
    pretrained = name != "blend" and models.shipped_weights(name) is not None
    label = name if pretrained or name == "blend" else f"{name} (random weights: no shipped checkpoint yet)"
    return models.create(name, pretrained=pretrained), label


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default=str(DEFAULT_CLIP))
    p.add_argument("--model", default=models.default_model_name())
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--max-frames", type=int, default=None, help="only the first N input frames")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--preset", default="medium", help="x264 preset")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--out", default=None, help="keep the output here (default: a temp file, deleted)")
    args = p.parse_args()

    clip = Path(args.clip)
    if not clip.is_file():
        print(f"benchmarks/video.py: {clip} not found (the shared data is not on this machine)", file=sys.stderr)
        return 2
    info = probe(clip)
    size = None if (info.width, info.height) == (1280, 720) else (1280, 720)
    torch.set_num_threads(args.threads)
    model, label = load(args.model, args.checkpoint)
    runner = Runner(EagerBackend(model), tile=args.tile)
    options = VideoOptions(
        factor=2, max_frames=args.max_frames, size=size, encode=EncodeOptions(preset=args.preset), progress=None
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "bench_x2.mp4"
        s = interpolate_video(clip, out, runner, options, model_name=label)
    total = s["seconds"]
    parts = {k: s[f"seconds_{k}"] for k in ("decode", "model", "encode")}
    other = max(0.0, total - sum(parts.values()))
    print(f"clip   {clip.name}: {info.width}x{info.height} {float(info.rate or 0):.3f} fps, audio {info.audio}")
    print(f"run    ×2 at {s['size'][0]}x{s['size'][1]}, model {label}, {args.threads} threads, x264 {args.preset}")
    print(
        f"frames {s['frames_in']} in → {s['frames_out']} out ({s['synthesized']} synthesized,"
        f" {s['cuts']} cuts, {s['duplicates']} duplicates), audio {s['audio']}"
    )
    print(f"time   {total:.2f} s → {s['frames_out'] / total:.2f} output frames/s")
    for k, v in (*parts.items(), ("other", other)):
        print(f"  {k:<7} {v:7.2f} s  {100 * v / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
