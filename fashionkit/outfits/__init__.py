"""Outfits: outfit vectors, their 2-D maps, recommendation and how it is judged (chapter 7).

* ``vectors``: the outfit vector (every head's probabilities, top then bottom);
* ``embed``: the autoencoder and the other maps (PCA, UMAP) and their quality;
* ``recommender``: :class:`~fashionkit.outfits.recommender.Recommender`, the bundle the command line reads, captions (torch-free);
* ``quality``: attribute agreement, diversity and coverage against random picks and the true labels
  (the page table and sentence are :mod:`fashionkit.book.outfit_tables`);
* ``reading``: the collection's vectors and a photo's vectors, read by the trained models.

May import: ``data``, ``vision``, ``metrics``, ``training``, ``studies``.
"""
