"""produce-detector-v1, long schedule (the shipped detector): the same recipe trained 120 epochs instead of 13.

The 13-epoch run (produce_detector_v1.py) reached valid mAP@0.5 0.46, still climbing about 0.03 an epoch
when its learning rate ran out: it was short of steps, not of capacity. 120 epochs of 60 steps of 16
pictures are 30 passes over the 3,831 training pictures. With the CPU to itself a step takes about
0.55 s (dark5 is the only backbone stage that learns), so about 75 minutes with validation; a stopped run
resumes from its last epoch when the same command is started again.
    nice -n 10 /usr/bin/python3 models/training/detector/train_detector.py \
        models/training/detector/recipes/produce_detector_v1_long.py
    /usr/bin/python3 models/training/detector/export_detector.py \
        --checkpoint /tmp/vk-det/produce-detector-v1-long/best.pt --out models/produce-detector-v1.onnx
    /usr/bin/python3 scripts/score-detector.py --model models/produce-detector-v1.onnx
"""
import os
import runpy

globals().update({k: v for k, v in runpy.run_path(os.path.join(os.path.dirname(__file__), "produce_detector_v1.py")).items()
                  if not k.startswith("__")})

work_dir = "/tmp/vk-det/produce-detector-v1-long"
epochs = 120
# dark5 opens later than in the short run: the new class head settles first, so the backbone's first
# updates are not driven by a random head's gradients.
backbone_from_epoch = 6
# YOLOX's no-augmentation tail, scaled with the schedule.
plain_last_epochs = 4
