"""2D segmentation models behind one contract (``Segmenter``) and one entry point
(``create_model``): the torch network Real3DVisionNet, its presets and shipped weights."""

from real3d.models.contract import Segmenter
from real3d.models.factory import BACKENDS, create_model, list_models
from real3d.models.presets import PRESETS, build_model, get_preset
from real3d.models.pretrained import (
    PRETRAINED,
    average_weights,
    count_macs,
    load_model,
    load_pretrained,
    load_weights,
    save_weights,
    weights_fingerprint,
)
from real3d.models.segmentation import (
    NETWORK_STRIDE,
    Real3DVisionNet,
    SegmentationResult,
    SegNetConfig,
    frame_to_tensors,
    logits_to_result,
    network_size,
)

__all__ = [
    "Segmenter",
    "create_model",
    "list_models",
    "BACKENDS",
    "PRESETS",
    "PRETRAINED",
    "get_preset",
    "build_model",
    "load_pretrained",
    "load_weights",
    "load_model",
    "save_weights",
    "average_weights",
    "count_macs",
    "Real3DVisionNet",
    "SegNetConfig",
    "SegmentationResult",
    "NETWORK_STRIDE",
    "frame_to_tensors",
    "logits_to_result",
    "network_size",
    "weights_fingerprint",
]
