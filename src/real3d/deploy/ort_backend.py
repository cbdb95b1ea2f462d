"""onnxruntime backend with the same ``predict`` API as the torch models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from real3d.core.errors import FormatError, InputError
from real3d.core.frame import Frame
from real3d.core.segmentation import SegmentationResult
from real3d.models.contract import ConfigCapabilities
from real3d.models.segmentation import SegNetConfig, tta_predict


class OrtSegmenter(ConfigCapabilities):
    """Runs an exported segmentation graph (FP32 or INT8) with onnxruntime on CPU.

    ``predict(frame) -> SegmentationResult`` behaves as ``Real3DVisionNet.predict``: frames
    of any size, answer at the frame's size. ``run(**inputs)`` takes the raw arrays
    (rgb (B, 3, H, W) float32 [0, 1], depth_m (B, 1, H, W) float32 metres) and returns
    (B, K, H, W) float32 logits.

    Implements ``real3d.models.Segmenter``. Capability flags: ``exportable`` and
    ``quantizable`` are False (it is already a deployed graph: quantise the FP32 ONNX file
    with ``quantize_int8`` instead); ``supports_guided`` follows the exported config's
    ``guide_radius``, as for the torch network.
    """

    exportable = False
    quantizable = False

    def __init__(self, path: str | Path, threads: int = 0):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FormatError(f"OrtSegmenter: no such ONNX file {path}")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if "real3d.config" not in meta:
            raise FormatError(f"OrtSegmenter: {path} carries no real3d.config metadata; export it with real3d.deploy")
        self.config = SegNetConfig.from_dict(json.loads(meta["real3d.config"]))
        self.head = meta.get("real3d.head", "refined")
        self.precision = meta.get("real3d.precision", "fp32")
        self.path = path
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run(self, rgb: np.ndarray | None = None, depth_m: np.ndarray | None = None) -> np.ndarray:
        feeds = {}
        for name, arr in (("rgb", rgb), ("depth_m", depth_m)):
            if name in self.input_names:
                if arr is None:
                    raise InputError(f"OrtSegmenter ({self.config.name}): input {name} is required")
                arr = np.asarray(arr, dtype=np.float32)
                if arr.ndim != 4:
                    raise InputError(f"OrtSegmenter: expected {name} (B, C, H, W), got {arr.shape}")
                if arr.shape[2] % 16 or arr.shape[3] % 16:
                    raise InputError(f"OrtSegmenter: expected H, W multiples of 16, got {arr.shape[2]}x{arr.shape[3]}")
                feeds[name] = arr
        return self.session.run(["logits"], feeds)[0]

    def predict(self, frame: Frame, head: str | None = None, flip: bool = False,
                scales: Sequence[float] = (1.0,), guided: bool | None = None) -> SegmentationResult:
        """Segment one frame; ``head`` must match the exported head (or be None). ``flip``,
        ``scales`` and ``guided`` as in ``Real3DVisionNet.predict`` (each mirrored or
        rescaled frame is a run of its own)."""
        if head is not None and head != self.head:
            raise InputError(f"OrtSegmenter: this graph was exported with head {self.head!r}, asked for {head!r}")

        def run(rgb_t, depth_t) -> np.ndarray:
            ref = rgb_t if rgb_t is not None else depth_t
            outs = [self.run(None if rgb_t is None else rgb_t[i:i + 1].contiguous().numpy(),
                             None if depth_t is None else depth_t[i:i + 1].contiguous().numpy())
                    for i in range(ref.shape[0])]
            return outs[0] if len(outs) == 1 else np.concatenate(outs)  # no copy for one frame

        return tta_predict(run, frame, self.config, self.head, flip, scales, guided)
