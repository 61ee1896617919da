"""The training core both deep-learning loops use (image classification in vision/trainer.py, detection in
detection/trainer.py): everything about *how* a network trains that does not depend on what it learns.

- runtime.py: where and how to run (Runtime), device, precision, DataLoader workers, seeding, per-epoch seeds
- optim.py: the optimizer factory, per-group learning rates and the (AMP-scaled, clipped) optimizer step
- schedules.py: learning-rate schedules as a factor of the peak rate over progress 0..1
- ema.py: the exponential moving average of the weights
- checkpoint.py: last.pt / best.pt / history.json in the fit's workdir, saved atomically, restored on resume
- deadline.py: the time kept for predictions, epoch re-planning and the time-aware schedule clock
- progress.py: the per-epoch progress bar and the one-line epoch log
- data.py: the datasets' shared base (paths, seeded transform, cache) and the seeded DataLoader
- core.py: TrainerCore (autocast, placement, checkpoints, pruner reports) and FitState (what one fit carries)

Both loops keep only what truly differs: the loss (cross-entropy with mixing vs the detector's own losses), the
batches (tensors vs lists of variable-size targets) and the validation (a per-row metric vs COCO mAP).
"""
