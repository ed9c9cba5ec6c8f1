"""Data: Vimeo90K-layout triplet folders and a real-video triplet sampler (see ``triplets`` and ``video``).

Submodules are imported on demand (``from edgevfi.data.video import ...``) so that importing the
package does not pull in PyAV.
"""
