"""Serving: the deployed graphs, the command line and its speed.

* ``graphs``: the deployed folder's format (file names, format tag, checkpoints and their digests);
* ``export``: each trained model and the segmenter exported as ONNX graphs (torch);
* ``deploy``: the torch-free reader of the graphs, and the exporter's entry point
  (``python -m fashionkit.serve.deploy``; ``make all`` runs it after chapters 3-4);
* ``cli``: ``python -m fashionkit predict|recommend``;
* ``bench``: ``make bench``'s speed figures.

May import: every wing (the highest).  ``cli`` and ``deploy`` import no torch at import time: the few
imports that need it sit in the functions that export or reload a model, each with its reason
(checked by the ``torch-free predict`` contract in ``pyproject.toml``).
"""
