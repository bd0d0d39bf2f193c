"""fashionkit: a reproducible clothing-attribute analysis book built on timm EfficientNet models."""

from fashionkit.vision.torchvision_shim import shim_before_torchvision

__version__ = "0.1.0"

# PyPI's torchvision wheel can fail to import next to a CPU torch build; the two op schemas
# it needs are registered just before its first import (only when its own extension does
# not load), so importing fashionkit itself loads no torch. See vision/torchvision_shim.py.
shim_before_torchvision()
