"""Structured pruning, NNCF INT8 PTQ/QAT and accuracy-drop validation — issue 7.

Imports :mod:`edgevfi`; never imported by it (only ``edgevfi.cli``, the top floor, may).
"""
