"""2D segmentation networks (Real3DVisionNet), presets and pretrained weights."""

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
    "PRESETS", "PRETRAINED", "get_preset", "build_model", "load_pretrained", "load_weights",
    "load_model", "save_weights", "average_weights", "count_macs", "Real3DVisionNet", "SegNetConfig",
    "SegmentationResult", "NETWORK_STRIDE", "frame_to_tensors", "logits_to_result", "network_size",
    "weights_fingerprint",
]
