"""The data: what a label is, where the photos are, and which split each photo belongs to.

* ``schema``: the heads of the two models and their classes (the one source of truth);
* ``labels``: the rules that turn CCP tags and CAD attribute codes into head labels;
* ``masks``: the bottom length measured from a CCP pixel mask;
* ``images``: safe image loading (every unreadable file becomes an :class:`~fashionkit.data.images.ImageProblem` with its reason);
* ``sources``: the data root, the readers of each source, the manifest (one row per photo), a model's rows;
* ``splits``: near-duplicate groups and the fixed train/val/test split (``params/splits.csv``);
* ``fetch``: download and convert the public originals (``make data``);
* ``audit``: chapter 1's count, missing-label and split tables;
* ``validation``: input checks shared by the estimators (``check_is_fitted``, ``check_matrix``).

May import: nothing else of fashionkit (the lowest wing). Torch-free.
"""
