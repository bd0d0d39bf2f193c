"""fashionkit: a reproducible clothing-attribute analysis book built on timm EfficientNet models."""

from fashionkit._compat import ensure_torchvision

__version__ = "0.1.0"

# PyPI's torchvision wheel can fail to import next to a CPU torch build; register the
# two op schemas it needs (only when its own extension does not load). See _compat.py.
ensure_torchvision()
