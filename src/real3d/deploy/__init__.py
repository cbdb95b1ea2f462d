"""Deployment: ONNX export, static INT8 quantisation, onnxruntime and OpenVINO backends
(``OpenVinoSegmenter`` lives in ``real3d.deploy.openvino_backend``: openvino is optional)."""

from real3d.deploy.onnx_export import (
    calibration_feeds,
    export_onnx,
    quantize_int8,
    select_float_nodes,
)
from real3d.deploy.graph_segmenter import GraphSegmenter
from real3d.deploy.ort_backend import OrtSegmenter
from real3d.deploy.runtime import GRAPH_BACKENDS, calibration_feeds_from_frames, ort_segmenter

__all__ = [
    "export_onnx",
    "quantize_int8",
    "select_float_nodes",
    "calibration_feeds",
    "GraphSegmenter",
    "OrtSegmenter",
    "GRAPH_BACKENDS",
    "ort_segmenter",
    "calibration_feeds_from_frames",
]
