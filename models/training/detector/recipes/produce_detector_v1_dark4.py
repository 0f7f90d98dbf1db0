"""produce-detector-v1, second stage: dark4 learns too, starting from the weight-averaged long run's best.pt.

The long runs keep the backbone COCO's up to dark4 (training all of it tripled a step's time here), so the
stride-16 features that most produce boxes come from are never adapted. This stage starts from
produce_detector_v1_ema.py's best checkpoint and trains dark4 and dark5 (0.3x lr) with the neck and head
at a quarter of the first stage's learning rate, still averaged. 24 epochs of 60 steps, about 25 minutes
with the CPU to itself. Run the first stage first, then:
    nice -n 10 /usr/bin/python3 models/training/detector/train_detector.py \
        models/training/detector/recipes/produce_detector_v1_dark4.py
    /usr/bin/python3 models/training/detector/export_detector.py \
        --checkpoint /tmp/vk-det/produce-detector-v1-dark4/best.pt --out models/produce-detector-v1.onnx
"""
import os
import runpy

globals().update({k: v for k, v in runpy.run_path(os.path.join(os.path.dirname(__file__), "produce_detector_v1_ema.py")).items()
                  if not k.startswith("__")})

init_from = "/tmp/vk-det/produce-detector-v1-ema/best.pt"
work_dir = "/tmp/vk-det/produce-detector-v1-dark4"
epochs = 24
backbone_stages = ("dark4", "dark5")
backbone_from_epoch = 0
lr = 5e-4
warmup_steps = 60
plain_last_epochs = 3
ema_decay = 0.998
ema_ramp_steps = 200
