"""produce-detector-v1, long schedule: the same recipe with three times the steps, for when the CPU is free.

The 13-epoch run reached valid mAP@0.5 0.46 by epoch 10, still climbing about 0.03 an epoch (models/produce-detector-v1.md);
this is the run that should replace it. About 1 s per step with the CPU to itself, so about 50 minutes.
    nice -n 10 /usr/bin/python3 models/training/detector/train_detector.py \
        models/training/detector/recipes/produce_detector_v1_long.py
    /usr/bin/python3 models/training/detector/export_detector.py \
        --checkpoint /tmp/vk-det/produce-detector-v1-long/best.pt --out models/produce-detector-v1.onnx
"""
import os
import runpy

globals().update({k: v for k, v in runpy.run_path(os.path.join(os.path.dirname(__file__), "produce_detector_v1.py")).items()
                  if not k.startswith("__")})

work_dir = "/tmp/vk-det/produce-detector-v1-long"
epochs = 40
backbone_from_epoch = 6
plain_last_epochs = 4
