"""One way to get a segmentation model: ``create_model(spec, backend=...)``.

A spec is a shipped name (``PRETRAINED``: trained weights that come with real3d), a preset
name (``PRESETS``: random weights, for training or tests), a path to weights saved by
``save_weights`` (``.safetensors`` + its ``.json`` card, or a folder holding
``model.safetensors``), a ``SegNetConfig`` (random weights) or an already built network.
The backend runs it: ``"torch"`` (the network itself), ``"onnx"`` (onnxruntime FP32),
``"int8"`` (onnxruntime, static INT8) or ``"openvino"`` (that INT8 graph on OpenVINO, an
optional extra); the graph backends live in ``real3d.deploy``.
"""

from __future__ import annotations

import os

from real3d.core.errors import ConfigError
from real3d.models.contract import Segmenter
from real3d.models.pretrained import ModelSpec, list_models, network_for

BACKENDS = ("torch", "onnx", "int8", "openvino")

__all__ = ["BACKENDS", "ModelSpec", "create_model", "list_models"]


def create_model(
    spec: ModelSpec = "rgbd-default",
    backend: str = "torch",
    *,
    cache_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    calibration_frames: int = 16,
) -> Segmenter:
    """A segmentation model for ``spec`` on ``backend`` (see the module docstring).

    Args:
        spec: a name of ``list_models()``, a weights path, a ``SegNetConfig`` or a
            ``Real3DVisionNet`` (used as is).
        backend: ``"torch"`` returns the ``Real3DVisionNet`` in eval mode; ``"onnx"`` /
            ``"int8"`` export it and return a ``real3d.deploy.OrtSegmenter``, ``"openvino"``
            a ``real3d.deploy.openvino_backend.OpenVinoSegmenter`` of the INT8 graph
            (``real3d.deploy.runtime.ort_segmenter``: graph cache under ``cache_dir``,
            runtime ``threads``, INT8 calibrated on ``calibration_frames`` synthetic
            frames).

    Raises:
        ConfigError: an unknown name (the message lists the valid ones) or backend,
            ``"openvino"`` without the openvino package (the message names the extra), or a
            count out of range (``calibration_frames`` >= 1, ``threads`` >= 0).
        FormatError: a weights path that is missing, corrupt (its card's sha256 differs)
            or does not fit its card.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if isinstance(calibration_frames, bool) or not isinstance(calibration_frames, int) or calibration_frames < 1:
        raise ConfigError(f"create_model: calibration_frames: expected an integer >= 1, got {calibration_frames!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise ConfigError(f"create_model: threads: expected None or an integer >= 0, got {threads!r}")
    net = network_for(spec)
    if backend == "torch":
        return net.eval()
    from real3d.deploy.runtime import ort_segmenter

    return ort_segmenter(net, backend, cache_dir=cache_dir, threads=threads, calibration_frames=calibration_frames)
