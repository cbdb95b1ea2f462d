"""Evaluation runner for segmentation models (torch or onnxruntime, same ``predict`` API)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.errors import InputError
from real3d.core.frame import Frame
from real3d.eval.images import confusion_png, overlay_png
from real3d.eval.metrics import SegMetrics, bootstrap_miou, confusion_matrix, metrics_from_confusion


def sample_to_frame(sample: dict, index: int = 0) -> Frame:
    """Training sample dict (rgb (3, H, W) uint8, depth_m (1, H, W), labels (H, W)) -> Frame.

    Intrinsics are a nominal 60 degree horizontal field of view: the networks do not use them.
    """
    rgb = np.ascontiguousarray(np.asarray(sample["rgb"]).transpose(1, 2, 0))
    h, w = rgb.shape[:2]
    depth = np.ascontiguousarray(np.asarray(sample["depth_m"], dtype=np.float32).reshape(h, w))
    labels = np.asarray(sample["labels"]).astype(np.uint8)
    return Frame(rgb=rgb, depth_m=depth, intrinsics=Intrinsics.from_fov(w, h, np.radians(60.0)), labels=labels, index=index)


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
    """
    import json

    if isinstance(data, str):
        from real3d.train.data import open_data, parse_synth_spec

        if views_per_scene is None and (data == "synth" or data.startswith("synth:")):
            views_per_scene = parse_synth_spec(data).fps
        data = open_data(data)
    if views_per_scene is not None and views_per_scene < 1:
        raise InputError(f"evaluate_segmentation: expected views_per_scene >= 1, got {views_per_scene}")
    n = len(data) if max_samples is None else min(len(data), max_samples)
    if n < 1:
        raise InputError(f"evaluate_segmentation: no samples to evaluate (data has {len(data)}, "
                         f"max_samples={max_samples})")
    conf = None
    scenes: dict[int, np.ndarray] = {}
    it = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="eval", unit="frame")
    for i in it:
        frame = sample_to_frame(data[i], i)
        res = model.predict(frame, head=head, flip=True) if flip else model.predict(frame, head=head)
        c = confusion_matrix(res.labels, frame.labels)
        conf = c if conf is None else conf + c
        if views_per_scene is not None:
            k = i // views_per_scene
            scenes[k] = c if k not in scenes else scenes[k] + c
        if out_dir is not None and i < n_overlays:
            overlay_png(frame.rgb, res.labels, frame.labels, Path(out_dir) / f"overlay_{i:02d}.png")
    m = metrics_from_confusion(conf)
    if len(scenes) >= 2:
        m = dataclasses.replace(m, miou_spread=bootstrap_miou(np.stack(list(scenes.values()))))
    if out_dir is not None:
        confusion_png(conf, Path(out_dir) / "confusion.png")
        (Path(out_dir) / "metrics.json").write_text(json.dumps(m.to_dict(), indent=2) + "\n")
    return m
