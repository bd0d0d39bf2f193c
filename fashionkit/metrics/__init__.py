"""Metrics: pure functions of labels and probabilities (no model, no file).

* ``scores``: accuracy, macro-F1, balanced accuracy, the majority baseline, bootstrap intervals, confusions;
* ``calibration``: reliability tables, ECE, negative log-likelihood, temperature scaling;
* ``comparison``: the mean of several views, paired bootstrap differences, the verdict rule, the ablation table.

May import: ``data``, ``vision`` (it uses neither model nor file; only ``data.schema``).
"""
