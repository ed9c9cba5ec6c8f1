"""Static-shape graphs and per-backend bundles (ExecuTorch, LiteRT, Core ML, ONNX) — issue 6.

Imports :mod:`edgevfi`; never imported by it (only ``edgevfi.cli``, the top floor, may).
"""
