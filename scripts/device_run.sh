#!/usr/bin/env bash
# One lease of a lent GPU machine (the `device` tool), as run in the twenty-second session:
#   1. the motion-stage training run of configs/apr-s-gpu.yaml, fitted to TRAIN_SECONDS
#      (scripts/device_train.py), weights written to $OUT after every chunk;
#   2. the CUDA reference for parity checks (`edgevfi check --make-reference --device cuda`) from a
#      bundle's manifest alone (REF_BUNDLE), checked here afterwards with `edgevfi check B --reference`.
# Before the call, here: `python scripts/pack_device_data.py --out .devpack --max-mb 22` and, for step 2,
# `mkdir -p .devpack/bundle && cp BUNDLE/manifest.json .devpack/bundle/`; the call carries .devpack.
# Each step runs even if the other fails; the machine's own python3 holds PyTorch and OpenCV.
set -u
OUT=${OUT:-out/device}
TRAIN_SECONDS=${TRAIN_SECONDS:-420}
REF_BUNDLE=${REF_BUNDLE:-.devpack/bundle}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu TRAIN_ARGS="--set device=cpu --set batch=2": a dry run on any machine
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/.devpack/site" PYTHONUNBUFFERED=1
nvidia-smi -L 2>/dev/null
python3 -c "import torch, cv2; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cv2', cv2.__version__)"

python3 scripts/device_train.py configs/apr-s-gpu.yaml --seconds "$TRAIN_SECONDS" \
    --snapshot "$OUT/apr-s-gpu.safetensors" ${TRAIN_ARGS:-} >"$OUT/train.log" 2>&1
echo "train exit $?"
tail -n 25 "$OUT/train.log"
# The run folder's records, so `scripts/ship_checkpoint.py` can be given a folder like a local run's
# (the twenty-third session rebuilt them from train.log: docs/training-log.md, runs 24-25).
for f in losses.csv config.json config_changes.json init.json; do cp "runs/apr-s-gpu/$f" "$OUT/" 2>/dev/null; done

if [ -f "$REF_BUNDLE/manifest.json" ]; then
    ref="$OUT/ref_$DEVICE.npz"
    timeout 150 python3 -m edgevfi check "$REF_BUNDLE" --make-reference "$ref" --device "$DEVICE" 2>&1 | tail -n 5
    # About 59 MB with the fine canvases' graphs; the files a call returns are capped at 16 MiB each:
    # here, `cat ref_cuda.npz.part-* > ref_cuda.npz` (the reference's arrays carry their sha256).
    if [ -f "$ref" ]; then split -b 15m "$ref" "$ref.part-" && rm "$ref"; fi
fi
ls -la "$OUT"
