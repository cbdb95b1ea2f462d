"""onnxruntime backend with the same ``predict`` API as the torch models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from real3d.core.errors import FormatError
from real3d.deploy.graph_segmenter import GraphSegmenter, first_line


class OrtSegmenter(GraphSegmenter):
    """Runs an exported segmentation graph (FP32 or INT8) with onnxruntime on CPU.

    ``predict(frame) -> SegmentationResult`` behaves as ``Real3DVisionNet.predict``: frames
    of any size, answer at the frame's size (or, with ``probs_at="network"``, a
    ``NetworkSegmentation``). ``run(rgb, depth_m)`` takes the raw arrays
    (rgb (B, 3, H, W) float32 [0, 1], depth_m (B, 1, H, W) float32 metres) and returns
    (B, K, H, W) float32 logits.

    Implements ``real3d.models.Segmenter``. Capability flags: ``exportable`` and
    ``quantizable`` are False (it is already a deployed graph: quantise the FP32 ONNX file
    with ``quantize_int8`` instead); ``supports_guided`` follows the exported config's
    ``guide_radius``, as for the torch network.
    """

    runtime = "OrtSegmenter"

    def __init__(self, path: str | Path, threads: int = 0):
        """Open the exported graph at ``path`` (``threads``: onnxruntime intra-op threads,
        0 = its default).

        Raises:
            FormatError: a missing, empty, truncated or corrupt file, a graph onnxruntime
                cannot load, or one without the metadata ``real3d.deploy`` writes (a valid
                config, the head, inputs and a ``logits`` output).
        """
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FormatError(f"OrtSegmenter: no such ONNX file {path}")
        if path.stat().st_size == 0:
            raise FormatError(f"OrtSegmenter: {path} is empty; export the model again (real3d export)")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            meta = self.session.get_modelmeta().custom_metadata_map
            input_names = [i.name for i in self.session.get_inputs()]
            outputs = [o.name for o in self.session.get_outputs()]
        except Exception as e:  # onnxruntime raises its own classes (Fail, InvalidProtobuf, ...)
            raise FormatError(
                f"OrtSegmenter: {path} is not a loadable ONNX graph, it is truncated or corrupt "
                f"({type(e).__name__}: {first_line(e)}); export the model again"
            ) from None
        self._read_metadata(path, meta, input_names, outputs)

    def _infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        try:
            return self.session.run(["logits"], feeds)[0]
        except Exception as e:  # onnxruntime's own classes: a graph whose weights or nodes are corrupt
            raise FormatError(
                f"OrtSegmenter ({self.model_name}): {self.path} failed to run "
                f"({type(e).__name__}: {first_line(e)}); the graph is corrupt, export it again"
            ) from None
