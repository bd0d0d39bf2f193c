"""Studies: trained models run to answer a chapter's question.

* ``heldout``: the validation and test maps and probabilities of a trained model (chapters 5 and 7);
* ``inference``: photo files read end to end (boxes, crops, models) in PyTorch;
* ``garment_photos``: what the garments photographed alone change: the street photos with and without them,
  and a garment photo read by its whole frame or its box (chapters 3-5);
* ``framing``: chapter 5's framing test and chapters 3-4's check of the levers on re-framed photos;
* ``noise``: chapter 6's label-noise estimate (out-of-fold probe, confident learning);
* ``explain``: Grad-CAM for chapter 6's gallery;
* ``lever_study``: levers too costly for ``make all``, judged on validation (``python -m fashionkit.studies.lever_study``).

May import: ``data``, ``vision``, ``metrics``, ``training``.
"""
