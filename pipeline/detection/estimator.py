"""A torchvision detector with the framework's estimator contract: X = image paths, y = packed boxes (boxes.py)."""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from pipeline.detection.boxes import pack
from pipeline.detection.recipe import Augment, DetTrainConfig


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class Detector(DetTrainConfig, Augment, BaseEstimator):
    """Faster R-CNN / RetinaNet / FCOS fine-tuning. predict(X) -> (images, max_detections * 6) packed boxes.

    Its parameters: the training loop's (DetTrainConfig: epochs, lr, schedule, seed ...), the augmentation's
    (Augment: hflip, scale, translate, affine_p, color) and the model's, input's and output's below.

    Engineering (device, seed, deadline, checkpoints, resume, progress) comes from the runner's FitContext;
    everything here is the science. Coordinates in and out are pixels of the original images.
    """

    arch: str = "fasterrcnn_mobilenet_v3_large_fpn"
    num_classes: int = 1
    class_names: tuple[str, ...] | None = None
    image_size: int = 640
    pretrained: str = "none"
    pretrained_file: str | None = None
    anchor_sizes: tuple[float, ...] | None = None
    anchor_ratios: tuple[float, ...] | None = None
    precision: str = "auto"
    channels_last: bool = True
    tta: bool = True
    wbf_iou: float = 0.55
    score_thresh: float = 0.01
    nms_thresh: float = 0.5
    max_detections: int = 100
    min_score: float = 0.0  # boxes below this confidence (after the TTA fusion) are not predicted
    cache_mb: int | None = None  # decoded images the process keeps (pipeline.vision.decoded); None: default_mb()
    num_workers: int | None = None
    plot_images: int = 4
    device: str | None = None

    # a scikit-learn estimator, not a value: identity, hashable, scikit-learn's repr (not the base dataclasses')
    __eq__ = object.__eq__
    __hash__ = object.__hash__
    __repr__ = BaseEstimator.__repr__

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> Detector:
        """A Detector from a competition's Config (a DetectionRecipe): every parameter the Config declares by name,
        then `overrides` (what is not a Config field: the arch per model, the classes)."""
        from pipeline.detection.recipe import recipe_params

        names = [n for n in inspect.signature(cls).parameters if n not in overrides]
        return cls(**recipe_params(cfg, names), **overrides)

    # --- fitting -------------------------------------------------------------------------------------------------
    def _runtime(self, context: Any) -> Any:
        from pipeline.training.runtime import Runtime, resolve_device, resolve_precision, resolve_workers, with_context

        device = resolve_device((getattr(context, "device", None) if context is not None else None) or self.device)
        rt = Runtime(
            device=device,
            dtype=resolve_precision(self.precision, device, cpu_autocast=False),  # CPU autocast slows detectors
            channels_last=device.startswith("cuda") and self.channels_last,
            num_workers=resolve_workers(self.num_workers, device),  # None: none on CPU, up to 8 on CUDA
            predict_views=2 if self.tta else 1,
        )
        return with_context(rt, context)

    def _check(self, X: Any, y: np.ndarray) -> None:
        if len(X) != len(y):
            raise ValueError(f"Detector.fit: {len(X)} images but {len(y)} target rows.")
        y = np.asarray(y, float)
        if y.ndim != 2 or y.shape[1] % 6:
            raise ValueError(f"Detector.fit: y must be packed boxes (images x K*6), got shape {y.shape}.")
        cls = y.reshape(len(y), -1, 6)[..., 5]
        bad = np.isfinite(cls) & ((cls < 0) | (cls >= self.num_classes))
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"Detector.fit: image {X[i]} has class index {cls[bad][0]:g}; valid: 0..{self.num_classes - 1}."
            )

    def fit(self, X: Any, y: np.ndarray, context: Any = None) -> Detector:
        """Train on image paths X and packed boxes y; with context.eval_set, score it every epoch: by context.score
        (the competition's metric), else by COCO mAP."""
        import torch

        from pipeline.detection.data import DetectionDataset, make_loader, make_transform
        from pipeline.detection.models import build_detector
        from pipeline.detection.trainer import DetTrainer

        paths = [str(p) for p in X]
        y = np.asarray(y, float)
        self._check(paths, y)
        rt = self._runtime(context)
        torch.manual_seed(self.seed)
        model = build_detector(
            self.arch,
            self.num_classes,
            self.image_size,
            self.pretrained,
            self.pretrained_file,
            self.anchor_sizes,
            self.anchor_ratios,
            self.score_thresh,
            self.nms_thresh,
            self.max_detections,
            log=rt.log,
        )
        aug = {f.name: getattr(self, f.name) for f in dataclasses.fields(Augment)}
        size = self.image_size
        train = DetectionDataset(paths, y, make_transform(size, True, **aug), self._held(paths, rt), size)
        valid, evaluate, label = None, None, "mAP"
        eval_set = getattr(context, "eval_set", None) if context is not None else None
        if eval_set is not None and len(eval_set[0]):
            v_paths, v_y = [str(p) for p in eval_set[0]], np.asarray(eval_set[1], float)
            v_held = self._held(v_paths, rt)
            valid = DetectionDataset(v_paths, v_y, make_transform(size, False), v_held, size)
            unboxed = self._unboxed(v_paths, v_held)
            score = getattr(context, "score", None)
            metric = getattr(context, "metric", None)
            if score is not None:  # the competition's metric, which evaluate gives instead of COCO mAP
                label = metric.name if metric is not None else "score"

            def evaluate(m: Any) -> tuple[float | None, dict[str, Any]]:
                from pipeline.detection.metric import coco_eval

                # the trainer's loader for the fit: its workers start once, not every epoch
                batches = trainer.loader(make_loader, unboxed, np.arange(len(v_paths)), self._predict_batch(), 0)
                pred = self._predict_with(m, batches, rt, tta=False)
                res = coco_eval(v_y, pred, self.num_classes)
                value = float(score(v_y, pred)) if score is not None else res["mAP"]
                return value, res | {"pred": pred}

        cfg = DetTrainConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(DetTrainConfig)})
        trainer = DetTrainer(cfg, rt, evaluate, label)
        t0 = time.perf_counter()
        self.model_ = trainer.fit(model, train, valid)
        self.fit_seconds_ = time.perf_counter() - t0
        self.history_ = trainer.history
        self.runtime_ = rt
        if valid is not None and trainer.last_eval and rt.workdir is not None:
            self._plots(rt, v_paths, v_y, trainer.last_eval)
        return self

    def _plots(self, rt: Any, paths: list[str], y: np.ndarray, res: dict[str, Any]) -> None:
        """Per-class AP and example images for this fold, in the run folder's plots/ (never fails a fit)."""
        from pipeline.detection import plots

        out, tag = Path(rt.plots_dir or Path(rt.workdir) / "plots"), rt.plot_tag
        names = list(self.class_names or [str(i) for i in range(self.num_classes)])
        try:
            plots.per_class_ap(
                res["per_class"],
                res.get("per_class_ap50"),
                names,
                out / f"{tag}_ap_per_class.png",
                title=f"{tag}: mAP {res['mAP']:.3f}, AP50 {res['AP50']:.3f}",
            )
            if self.plot_images > 0:
                plots.examples(paths, y, res["pred"], names, out / f"{tag}_examples.png", n=self.plot_images)
        except Exception as e:  # a plot must never cost a trained model
            rt.log(f"detection plots failed: {type(e).__name__}: {e}")

    # --- saving -------------------------------------------------------------------------------------------------
    def save_fitted(self, path: str | Path) -> None:
        """Write what predicting needs to one file (fitted_blob)."""
        import torch

        torch.save(self.fitted_blob(), path)

    def fitted_blob(self) -> dict[str, Any]:
        """What predicting needs: the parameters and the whole network on the CPU.

        The network is kept whole rather than as a state dict: torchvision builds a different one (frozen
        BatchNorm) when backbone weights are fetched, and predicting must not fetch anything.
        """
        import copy

        if not hasattr(self, "model_"):
            raise RuntimeError("Detector.save_fitted called before fit.")
        model = copy.deepcopy(getattr(self.model_, "module", self.model_)).cpu()
        return {"params": self.get_params(deep=False), "model": model}

    @classmethod
    def load_fitted(cls, path: str | Path, device: str | None = None) -> Detector:
        """The fitted detector saved by save_fitted, on `device` (default: its own, else CUDA when available)."""
        import torch

        return cls.from_blob(torch.load(path, map_location="cpu", weights_only=False), device)

    @classmethod
    def from_blob(cls, blob: dict[str, Any], device: str | None = None) -> Detector:
        """The fitted detector of a fitted_blob, on `device` (load_fitted)."""
        est = cls(**blob["params"])
        if device is not None:
            est.device = device
        rt = est._runtime(None)
        est.model_ = blob["model"].to(rt.device, memory_format=rt.memory_format).eval()
        est.runtime_ = dataclasses.replace(rt, predict_views=2 if est.tta else 1)
        est.history_ = []
        return est

    # --- prediction ----------------------------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Packed boxes per image in original pixels: (images, max_detections * 6); flip TTA fused with WBF."""
        if not hasattr(self, "model_"):
            raise RuntimeError("Detector.predict called before fit.")
        from pipeline.detection.data import make_loader

        rt, paths = self.runtime_, [str(p) for p in X]
        unboxed = self._unboxed(paths, self._held(paths, rt))
        batches = make_loader(unboxed, self._predict_batch(), False, num_workers=rt.num_workers)
        return self._predict_with(self.model_, batches, rt, tta=self.tta)

    def _held(self, paths: list[str], rt: Any) -> list[tuple[np.ndarray, int, int]] | None:
        """The images of `paths` cut to image_size, with their decoded sizes, from the process's store: a run decodes
        each image once, not once per fold, epoch and prediction (pipeline/vision/decoded.py). None when cache_mb is
        0 or they exceed it: then the loader decodes them as it reads."""
        from pipeline.vision.decoded import budgeted

        return budgeted(self.cache_mb).cut(paths, self.image_size, rt.num_workers)

    def _unboxed(self, paths: list[str], held: list[tuple[np.ndarray, int, int]] | None) -> Any:
        """The images to predict boxes on, resized as for training (a DetectionDataset without targets)."""
        from pipeline.detection.data import DetectionDataset, make_transform

        transform = make_transform(self.image_size, False, boxes=False)
        return DetectionDataset(paths, None, transform, held, self.image_size)

    def _predict_batch(self) -> int:
        return max(self.batch_size * 2, 1)

    def _predict_with(self, model: Any, batches: Iterable[Any], rt: Any, tta: bool) -> np.ndarray:
        """Packed boxes of the images in `batches` (a loader of an unboxed DetectionDataset), in their order."""
        import torch

        from pipeline.detection.data import to_device
        from pipeline.detection.wbf import fuse_image

        was = model.training
        model.eval()
        boxes, scores, labels = [], [], []
        ctx = torch.autocast(rt.device.split(":")[0], dtype=rt.dtype) if rt.dtype is not None else nullcontext()
        with torch.no_grad(), ctx:
            for images, _, factors in batches:
                x = to_device(images, rt.device)
                outs = [model(x)]
                if tta:
                    flipped = model([im.flip(-1) for im in x])
                    for o, im in zip(flipped, x, strict=True):
                        w = im.shape[-1]
                        o["boxes"] = torch.stack(
                            [w - o["boxes"][:, 2], o["boxes"][:, 1], w - o["boxes"][:, 0], o["boxes"][:, 3]], 1
                        )
                    outs.append(flipped)
                for j, (sx, sy) in enumerate(factors):
                    views = []
                    for out in outs:
                        # output 0 is torchvision's background: RetinaNet/FCOS can still predict it, which is no class
                        real = (out[j]["labels"] > 0).cpu().numpy()
                        b = out[j]["boxes"].float().cpu().numpy()[real]
                        views.append(
                            (
                                np.column_stack([b[:, :2], b[:, 2:] - b[:, :2]]),
                                out[j]["scores"].float().cpu().numpy()[real],
                                out[j]["labels"].cpu().numpy()[real] - 1,
                            )
                        )
                    if len(views) > 1:
                        h, w = x[j].shape[-2:]
                        b, s, c = fuse_image(views, (w, h), iou_thr=self.wbf_iou)
                    else:
                        b, s, c = views[0]
                    keep = s >= self.min_score
                    b, s, c = b[keep], s[keep], c[keep]
                    boxes.append(b / np.array([sx, sy, sx, sy]))
                    scores.append(s)
                    labels.append(c)
        model.train(was)
        return pack(boxes, scores, labels, self.max_detections)


def detectors(cfg: Any, class_names: tuple[str, ...], nothing_class: str | None = None) -> dict[str, Any]:
    """One Detector per arch named in cfg.models (pipeline/detection/models.py ARCHS), sharing the Config's recipe
    (with Config.fit_min_score, min_score 0: every box predicted); an unknown arch or a pretrained_file that is not
    there is refused before any fit. With Config.nothing_classifier (a competition of a `nothing_class` only), each
    is fitted with the "finding / no finding" image classifier that scores the nothing class (nothing.py)."""
    from pipeline.contract import ContractError
    from pipeline.detection.box_blend import fits_cut
    from pipeline.detection.models import ARCHS

    unknown = [m for m in cfg.models if m not in ARCHS]
    if unknown:
        raise ContractError(f"Unknown model(s) {', '.join(unknown)} in models. Valid: {', '.join(ARCHS)}.")
    if cfg.pretrained_file and not Path(cfg.pretrained_file).expanduser().is_file():
        raise ContractError(f"pretrained_file {cfg.pretrained_file}: no such file.")
    # a cut fitted after the blend (box_cut.py) needs every box the detector finds, down to its score_thresh
    floor = {"min_score": 0.0} if fits_cut(cfg) else {}
    found = {
        arch: Detector.from_config(cfg, arch=arch, num_classes=len(class_names), class_names=class_names, **floor)
        for arch in cfg.models
    }
    if not getattr(cfg, "nothing_classifier", False):
        return found
    if nothing_class is None:
        raise ContractError(
            "nothing_classifier: this competition has no nothing_class (FILES) for the classifier to score; "
            "set nothing_classifier=false, or pass FILES.nothing_class to detectors() in models()."
        )
    from pipeline.detection.nothing import NothingDetector, nothing_classifier

    classifier = nothing_classifier(cfg)
    drop, weight = float(cfg.nothing_drop), bool(cfg.nothing_weight)
    return {arch: NothingDetector(det, classifier, len(class_names), drop, weight) for arch, det in found.items()}
