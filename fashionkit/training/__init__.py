"""Training: the estimator, its checkpoints, rare-class sampling and the GPU profile.

* ``classifier``: :class:`~fashionkit.training.classifier.AttributeClassifier` (fit on cached maps), the
  linear probe, checkpoints, and the validation table of chapters 3-4;
* ``sampling``: the rare-class strategies (oversampling, class weights);
* ``finetune``: training every block on photos (the GPU profile), on one GPU or several
  (:mod:`fashionkit.vision.distributed`);
* ``train_gpu``: ``make train-gpu``'s entry point.

May import: ``data``, ``vision``, ``metrics``.
"""
