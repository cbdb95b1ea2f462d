"""Evaluation runner for segmentation models (torch or onnxruntime, same ``predict`` API)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, InputError
from real3d.core.files import atomic_write_text
from real3d.core.frame import Frame
from real3d.core.labels import NYU13, LabelSet
from real3d.eval.calibration import CalibrationStats
from real3d.eval.images import confusion_png, overlay_png
from real3d.eval.metrics import (
    SegMetrics,
    bootstrap_miou,
    bootstrap_miou_draws,
    confusion_matrix,
    metrics_from_confusion,
)


def sample_to_frame(sample: dict, index: int = 0, label_set: str = "nyu13") -> Frame:
    """Training sample dict (rgb (3, H, W) uint8, depth_m (1, H, W), labels (H, W) ids of
    ``label_set``) -> Frame.

    Intrinsics are a nominal 60 degree horizontal field of view: the networks do not use them.
    """
    rgb = np.ascontiguousarray(np.asarray(sample["rgb"]).transpose(1, 2, 0))
    h, w = rgb.shape[:2]
    depth = np.ascontiguousarray(np.asarray(sample["depth_m"], dtype=np.float32).reshape(h, w))
    labels = np.asarray(sample["labels"]).astype(np.uint8)
    return Frame(
        rgb=rgb,
        depth_m=depth,
        intrinsics=Intrinsics.from_fov(w, h, np.radians(60.0)),
        labels=labels,
        index=index,
        label_set=label_set,
    )


def evaluation_label_set(model, data=None) -> LabelSet:
    """The label set a model is scored in: the one it predicts (``Segmenter.label_set``;
    NYUv2-13 for a model that does not say). A dataset whose ``label_set`` names another
    raises ConfigError: its ids would be read as the model's classes."""
    from real3d.train.data import data_label_set

    ls = getattr(model, "label_set", None)
    ls = ls if isinstance(ls, LabelSet) else NYU13
    have = data_label_set(data) if data is not None and not isinstance(data, str) else None
    if have is not None and have != ls.name:
        raise ConfigError(f"evaluate_segmentation: the data's labels are {have}, the model predicts {ls.name}")
    return ls


def evaluate_segmentation(
    model,
    data,
    head: str = "refined",
    max_samples: int | None = None,
    out_dir: str | Path | None = None,
    n_overlays: int = 4,
    progress: bool = False,
    views_per_scene: int | None = None,
    flip: bool = False,
    scales: tuple[float, ...] = (1.0,),
    guided: bool | None = None,
) -> SegMetrics:
    """Run ``model.predict`` on every sample of ``data`` and accumulate the confusion.

    Args:
        model: anything with ``predict(frame, head=...) -> SegmentationResult``.
        data: a Dataset of samples, or a data spec string (``real3d.train.data``).
        head: ``"refined"`` or ``"coarse"``.
        max_samples: evaluate only the first N samples.
        out_dir: if given, writes ``confusion.png``, ``metrics.json`` and ``overlay_XX.png``.
        views_per_scene: samples i // views_per_scene share a scene (a synthetic spec's
            ``fps``; taken from a spec string when not given); with two or more scenes the
            result carries ``miou_spread`` from resampling scenes (``bootstrap_miou``).
        flip: also run each mirrored frame and average the two (``predict(flip=True)``).
        scales: run at these multiples of the model's size and average (``predict(scales=...)``).
        guided: ``predict(guided=...)``: None as the model's config says, False bilinear
            upsampling of the class probabilities, True along the image's edges.

    The scores are in the model's label set (``evaluation_label_set``): a data spec string
    is opened in it, and ``confusion.png``, ``metrics.json`` and the overlays name and colour
    its classes. Raises ConfigError for a dataset labelled in another set.
    """
    import json

    ls = evaluation_label_set(model, data)
    if isinstance(data, str):
        from real3d.train.data import open_data, parse_synth_spec

        if views_per_scene is None and (data == "synth" or data.startswith("synth:")):
            views_per_scene = parse_synth_spec(data).fps
        data = open_data(data, labels=ls.name)
    if views_per_scene is not None and views_per_scene < 1:
        raise InputError(f"evaluate_segmentation: expected views_per_scene >= 1, got {views_per_scene}")
    n = len(data) if max_samples is None else min(len(data), max_samples)
    if n < 1:
        raise InputError(
            f"evaluate_segmentation: no samples to evaluate (data has {len(data)}, max_samples={max_samples})"
        )
    # only what differs from plain prediction is passed: a model without test-time
    # augmentation (or with flip alone) can still be evaluated plainly
    tta = ({"flip": True} if flip else {}) | ({"scales": tuple(scales)} if tuple(scales) != (1.0,) else {})
    if guided is not None:
        tta["guided"] = guided
    conf = None
    scenes: dict[int, np.ndarray] = {}
    # up to 20,000 labelled pixels per view, drawn with a fixed seed
    cal = CalibrationStats(max_pixels_per_frame=20000, seed=0)
    it = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="eval", unit="frame")
    for i in it:
        frame = sample_to_frame(data[i], i, ls.name)
        res = model.predict(frame, head=head, **tta)
        c = confusion_matrix(res.labels, frame.labels, ls.num_classes)
        conf = c if conf is None else conf + c
        probs = getattr(res, "probs", None)
        if probs is not None and probs.shape[1:] == frame.labels.shape and (frame.labels > 0).any():
            cal.update(probs, frame.labels)
        if views_per_scene is not None:
            k = i // views_per_scene
            scenes[k] = c if k not in scenes else scenes[k] + c
        if out_dir is not None and i < n_overlays:
            overlay_png(frame.rgb, res.labels, frame.labels, Path(out_dir) / f"overlay_{i:02d}.png", label_set=ls)
    m = metrics_from_confusion(conf)
    if len(scenes) >= 2:
        m = dataclasses.replace(m, miou_spread=bootstrap_miou(np.stack(list(scenes.values()))))
    if cal.pixels:
        r = cal.result()
        m = dataclasses.replace(
            m, calibration={k: r[k] for k in ("ece", "mce", "brier", "nll", "accuracy", "confidence")}
        )
    if out_dir is not None:
        confusion_png(conf, Path(out_dir) / "confusion.png", names=ls.names)
        atomic_write_text(Path(out_dir) / "metrics.json", json.dumps(m.to_dict(ls.names), indent=2) + "\n")
    return m


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    """Two labellings of the same held-out views, compared scene by scene.

    Attributes:
        a, b: metrics of the reference labelling A and of the candidate B.
        draws: (n_boot,) paired differences mIoU(B) - mIoU(A) in [0, 1], each over the
            same resample of whole scenes (``bootstrap_miou_draws`` with a reference).
        views, scenes: how many views were labelled, in how many scenes.
    """

    a: SegMetrics
    b: SegMetrics
    draws: np.ndarray
    views: int
    scenes: int

    def summary(self, names: tuple[str, str] = ("A", "B"), class_names: tuple[str, ...] | None = None) -> str:
        """Two lines: both mIoUs with the paired difference and its spread, then per-class changes."""
        from real3d.core.labels import NYU13_NAMES

        class_names = class_names or NYU13_NAMES
        a, b, d = self.a, self.b, 100 * self.draws
        na, nb = names
        lo, hi = np.quantile(d, [0.025, 0.975])
        line = (
            f"{na} {100 * a.miou:.2f}  {nb} {100 * b.miou:.2f}  {nb} - {na} {100 * (b.miou - a.miou):+.2f}"
            f"  (scene bootstrap std {d.std():.2f}, 95 % {lo:+.2f} to {hi:+.2f},"
            f" {nb} ahead in {100 * np.mean(d > 0):.1f} % of resamples)"
        )
        per_class = ", ".join(f"{class_names[i + 1]} {100 * (b.iou[i] - a.iou[i]):+.1f}" for i in range(len(a.iou)))
        return f"{line}\nper-class IoU, {nb} - {na}: {per_class}"


def compare_labellings(
    label_a: Callable[[Frame], np.ndarray],
    label_b: Callable[[Frame], np.ndarray],
    data,
    views_per_scene: int,
    max_samples: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> PairedComparison:
    """Label every view of ``data`` with A and with B, and bootstrap the mIoU difference
    over whole scenes (a paired comparison: what the scenes do to both cancels out).

    Args:
        label_a, label_b: frame -> (H, W) label ids, e.g. ``lambda f: net.predict(f).labels``.
        data: a Dataset of samples (``real3d.train.data.open_data``) whose views
            i // views_per_scene share a scene.
        views_per_scene: views per scene; only whole scenes are used.
        max_samples: use only the first N views (rounded down to whole scenes).
        n_boot, seed: the scene resampling.
    """
    if views_per_scene < 1:
        raise InputError(f"compare_labellings: expected views_per_scene >= 1, got {views_per_scene}")
    n = len(data) if max_samples is None or max_samples <= 0 else min(len(data), max_samples)
    n = n // views_per_scene * views_per_scene
    if n < 2 * views_per_scene:
        raise InputError(
            f"compare_labellings: need at least two whole scenes of {views_per_scene} views, "
            f"got {len(data)} views (max_samples={max_samples})"
        )
    per_view: list[list[np.ndarray]] = [[], []]
    for i in range(n):
        frame = sample_to_frame(data[i], i)
        for k, label in enumerate((label_a, label_b)):
            per_view[k].append(confusion_matrix(label(frame), frame.labels))
    conf = [np.stack(v).reshape(-1, views_per_scene, *v[0].shape).sum(axis=1) for v in per_view]
    return PairedComparison(
        a=metrics_from_confusion(conf[0].sum(axis=0)),
        b=metrics_from_confusion(conf[1].sum(axis=0)),
        draws=bootstrap_miou_draws(conf[1], reference=conf[0], n_boot=n_boot, seed=seed),
        views=n,
        scenes=len(conf[0]),
    )
