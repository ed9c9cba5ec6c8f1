"""Training: losses from the seed papers (``losses``) and the resumable loop (``loop``).

Submodules are imported on demand so that importing the package stays cheap.
"""
