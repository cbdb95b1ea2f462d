"""Deployment: ONNX export, static INT8 quantisation, onnxruntime backend."""

from real3d.deploy.onnx_export import (
    calibration_feeds,
    export_onnx,
    quantize_int8,
    select_float_nodes,
)
from real3d.deploy.ort_backend import OrtSegmenter
from real3d.deploy.runtime import calibration_feeds_from_frames, ort_segmenter

__all__ = [
    "export_onnx",
    "quantize_int8",
    "select_float_nodes",
    "calibration_feeds",
    "OrtSegmenter",
    "ort_segmenter",
    "calibration_feeds_from_frames",
]
