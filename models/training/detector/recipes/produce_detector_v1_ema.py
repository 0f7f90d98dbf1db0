"""produce-detector-v1, long schedule with a weight average (the shipped detector since 1.1.0).

The 120-epoch run (produce_detector_v1_long.py) reached valid mAP@0.5 0.638 at its best epoch, but its
last 20 epochs swung between 0.60 and 0.64 from one epoch's weights to the next. YOLOX itself evaluates
and ships an exponential moving average of the weights (ModelEMA); this recipe is the long one with that
average, which is what is validated, kept as best.pt and exported. Same schedule, same cost (the average
is one pass over the weights a step), about 75-90 minutes with the CPU to itself; a stopped run resumes
from its last epoch when the same command is started again.
    nice -n 10 /usr/bin/python3 models/training/detector/train_detector.py \
        models/training/detector/recipes/produce_detector_v1_ema.py
    /usr/bin/python3 models/training/detector/export_detector.py \
        --checkpoint /tmp/vk-det/produce-detector-v1-ema/best.pt --out models/produce-detector-v1.onnx
    /usr/bin/python3 scripts/score-detector.py --model models/produce-detector-v1.onnx
"""
import os
import runpy

globals().update({k: v for k, v in runpy.run_path(os.path.join(os.path.dirname(__file__), "produce_detector_v1_long.py")).items()
                  if not k.startswith("__")})

version = "1.1.0"
work_dir = "/tmp/vk-det/produce-detector-v1-ema"
# About the last 1,000 steps (17 epochs) weigh in; YOLOX's 0.9998 suits its hundreds of thousands of steps,
# not these 7,200. The ramp lets the average follow the fast early changes of the new class head.
ema_decay = 0.999
ema_ramp_steps = 500
