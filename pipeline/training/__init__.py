"""The training core the deep-learning loops use (image classification in vision/trainer.py, detection in
detection/trainer.py, segmentation in segmentation/trainer.py): everything about *how* a network trains that does not
depend on what it learns.

- runtime.py: where and how to run (Runtime), device, precision, DataLoader workers, seeding, per-epoch seeds
- optim.py: the optimizer factory, per-group learning rates and the (AMP-scaled, clipped) optimizer step
- schedules.py: learning-rate schedules as a factor of the peak rate over progress 0..1
- ema.py: the exponential moving average of the weights
- checkpoint.py: last.pt / best.pt / history.json in the fit's workdir, saved atomically, restored on resume
- deadline.py: the time kept for predictions, epoch re-planning and the time-aware schedule clock
- progress.py: the per-epoch progress bar and the one-line epoch log
- data.py: the datasets' shared base (paths, seeded transform, cache) and the seeded DataLoader
- core.py: TrainerCore (autocast, placement, checkpoints, pruner reports) and FitState (what one fit carries)
- planned.py: PlannedTrainer, the fit planned over epochs the detection and segmentation loops share (the time kept for
  its predictions, the epochs and their batches, re-planning at a deadline, checkpoints, resume)

The loops keep only what truly differs: the loss (cross-entropy with mixing, the detector's own losses, BCE + soft
Dice), the batches (tensors, lists of variable-size targets, images with masks) and the validation (a per-row metric,
COCO mAP, Dice with the best epoch kept).
"""
