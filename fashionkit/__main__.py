"""``python -m fashionkit``: see :mod:`fashionkit.serve.cli`."""

import os
import sys

# Offline by default, as under make: albumentations would otherwise look for updates.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fashionkit.serve.cli import main  # noqa: E402

sys.exit(main())
