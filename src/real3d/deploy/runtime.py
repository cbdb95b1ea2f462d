"""A torch network on an onnxruntime backend: export, static INT8 calibration and a graph
cache keyed by the weights' content. ``real3d.models.create_model(spec, backend=...)`` and
the pipeline get their ONNX and INT8 segmenters here."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from real3d.core.errors import ConfigError
from real3d.deploy.ort_backend import OrtSegmenter
from real3d.models.segmentation import Real3DVisionNet

ORT_BACKENDS = ("onnx", "int8")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, or ``$XDG_CACHE_HOME/real3d`` (``~/.cache/real3d``) when None."""
    if cache_dir is not None:
        return Path(cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "real3d"


def weights_key(net: Real3DVisionNet) -> str:
    """Content hash of a network's weights and INT8 recipe (random-init presets differ per build)."""
    from real3d.models.pretrained import weights_fingerprint

    return weights_fingerprint(net, repr((net.card or {}).get("int8_keep_float")))


def calibration_feeds_from_frames(frames, model_config) -> list[dict]:
    """INT8 calibration inputs from Frames: dicts of ``rgb`` (1, 3, h, w) float32 [0, 1] and
    ``depth_m`` (1, 1, h, w) float32 metres at the model's network size."""
    from real3d.models.segmentation import frame_to_tensors

    feeds = []
    for f in frames:
        rgb_t, depth_t, _ = frame_to_tensors(f, model_config)
        d = {}
        if rgb_t is not None:
            d["rgb"] = rgb_t.numpy().astype(np.float32)
        if depth_t is not None:
            d["depth_m"] = depth_t.numpy().astype(np.float32)
        feeds.append(d)
    return feeds


def ort_segmenter(net: Real3DVisionNet, backend: str, *, cache_dir: str | os.PathLike | None = None,
                  threads: int | None = None, calibration_frames: int = 16) -> OrtSegmenter:
    """``net`` exported to ONNX and served by onnxruntime: ``"onnx"`` (FP32) or ``"int8"``
    (static INT8, calibrated on ``calibration_frames`` synthetic frames).

    For weights loaded from a file (a network with a model card) the graphs are kept in
    ``cache_root(cache_dir) / "onnx"`` (file name = content hash of the weights and the INT8
    recipe) and reused; random-init presets differ on every build, so their graphs live in
    a temporary folder only until onnxruntime has read them. ``threads``: onnxruntime
    intra-op threads (None or 0: its default). Raises ConfigError for an unknown backend or
    a network that does not declare the capability the backend needs.
    """
    from real3d.deploy.onnx_export import DEFAULT_WEIGHT_FORMAT, export_onnx, quantize_int8

    if backend not in ORT_BACKENDS:
        raise ConfigError(f"ort_segmenter: unknown backend {backend!r}; valid: {', '.join(ORT_BACKENDS)}")
    if backend == "int8" and not net.quantizable:
        raise ConfigError(f"{net.config.name} does not declare itself quantizable")
    cached = net.card is not None
    root = cache_root(cache_dir) / "onnx"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        key = f"{net.config.name}-{weights_key(net)}"
        final_dir = root if cached else work
        fp32 = final_dir / f"{key}.onnx"
        if not fp32.is_file():
            # written whole or not at all (real3d.core.files): a concurrent run never reads half a file
            export_onnx(net, fp32, size_hw=net.config.infer_hw)
        path = fp32
        if backend == "int8":
            # the name carries the weight format, so a graph cached with another one is not reused
            q = final_dir / f"{key}.int8-{DEFAULT_WEIGHT_FORMAT}.onnx"
            if not q.is_file():
                from real3d.train.data import calibration_frames as synthetic_frames

                frames = synthetic_frames(max(1, int(calibration_frames)), net.config.infer_hw)
                feeds = calibration_feeds_from_frames(frames, net.config)
                quantize_int8(fp32, q, feeds)
            path = q
        return OrtSegmenter(path, threads=threads or 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
