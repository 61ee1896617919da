"""Object detection: torchvision detectors behind the estimator contract (estimator.py), boxes as packed numeric
arrays (boxes.py), COCO mAP with pycocotools (metric.py), Kaggle's IoU metric (iou_map.py) and PASCAL VOC mAP over
classes (voc_map.py), weighted boxes fusion
(wbf.py, and the runner's hooks after the fold models in box_blend.py), the confidence cut fitted out of fold under
Kaggle's IoU metric (box_cut.py), plots (plots.py); a competition of boxes in a CSV with a PredictionString
submission (csv_boxes.py, box_table.py, prediction_string.py) and what `new` infers and writes for one (infer.py,
infer_classes.py, new_boxes.py, template.py).

Import the modules you need; this package imports nothing heavy so the CLI stays fast.
"""
