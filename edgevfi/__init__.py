"""EdgeVFI: compact video frame interpolation taken to static tiled graphs for phones and TVs."""

__version__ = "0.1.0"
