"""One way to get a segmentation model: ``create_model(spec, backend=...)``.

A spec is a shipped name (``PRETRAINED``: trained weights that come with real3d), a preset
name (``PRESETS``: random weights, for training or tests), a path to weights saved by
``save_weights`` (``.safetensors`` + its ``.json`` card, or a folder holding
``model.safetensors``), a ``SegNetConfig`` (random weights) or an already built network.
The backend runs it: ``"torch"`` (the network itself), ``"onnx"`` (onnxruntime FP32) or
``"int8"`` (onnxruntime, static INT8); the ONNX backends live in ``real3d.deploy``.
"""

from __future__ import annotations

import os
from pathlib import Path

from real3d.core.errors import ConfigError
from real3d.models.contract import Segmenter
from real3d.models.presets import PRESETS
from real3d.models.segmentation import Real3DVisionNet, SegNetConfig

BACKENDS = ("torch", "onnx", "int8")

ModelSpec = str | os.PathLike | SegNetConfig | Real3DVisionNet


def list_models() -> tuple[str, ...]:
    """Every model name ``create_model`` takes: shipped weights first, then presets."""
    from real3d.models.pretrained import PRETRAINED

    return PRETRAINED + tuple(PRESETS)


def create_model(spec: ModelSpec = "rgbd-default", backend: str = "torch", *,
                 cache_dir: str | os.PathLike | None = None, threads: int | None = None,
                 calibration_frames: int = 16) -> Segmenter:
    """A segmentation model for ``spec`` on ``backend`` (see the module docstring).

    Args:
        spec: a name of ``list_models()``, a weights path, a ``SegNetConfig`` or a
            ``Real3DVisionNet`` (used as is).
        backend: ``"torch"`` returns the ``Real3DVisionNet`` in eval mode; ``"onnx"`` /
            ``"int8"`` export it and return a ``real3d.deploy.OrtSegmenter``
            (``real3d.deploy.runtime.ort_segmenter``: graph cache under ``cache_dir``,
            onnxruntime ``threads``, INT8 calibrated on ``calibration_frames`` synthetic
            frames).

    Raises:
        ConfigError: an unknown name (the message lists the valid ones) or backend.
        FormatError: a weights path that is missing or does not fit its card.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    net = _network(spec)
    if backend == "torch":
        return net.eval()
    from real3d.deploy.runtime import ort_segmenter

    return ort_segmenter(net, backend, cache_dir=cache_dir, threads=threads,
                         calibration_frames=calibration_frames)


def _network(spec: ModelSpec) -> Real3DVisionNet:
    from real3d.models import pretrained

    if isinstance(spec, Real3DVisionNet):
        return spec
    if isinstance(spec, SegNetConfig):
        return Real3DVisionNet(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"create_model: expected a model name, a weights path, a SegNetConfig or a "
                          f"Real3DVisionNet, got {type(spec).__name__}")
    s = str(spec)
    if s in pretrained.PRETRAINED:
        return pretrained.load_weights(pretrained.WEIGHTS_DIR / f"{s}.safetensors")
    if s in PRESETS:
        return Real3DVisionNet(PRESETS[s])
    p = Path(s)
    if p.suffix in (".safetensors", ".json") or p.exists():
        if p.is_dir():
            p = p / "model.safetensors"
        return pretrained.load_weights(p)
    raise ConfigError(
        f"unknown model {s!r}; expected a path to .safetensors or one of {', '.join(list_models())}"
    )
