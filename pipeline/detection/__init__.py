"""Object detection: torchvision detectors behind the estimator contract (estimator.py), boxes as packed numeric
arrays (boxes.py), COCO mAP with pycocotools (metric.py), weighted boxes fusion (wbf.py), plots (plots.py).

Import the modules you need; this package imports nothing heavy so the CLI stays fast.
"""
