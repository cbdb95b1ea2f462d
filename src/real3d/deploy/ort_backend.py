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
            self.input_names = [i.name for i in self.session.get_inputs()]
            outputs = [o.name for o in self.session.get_outputs()]
        except Exception as e:  # onnxruntime raises its own classes (Fail, InvalidProtobuf, ...)
            raise FormatError(
                f"OrtSegmenter: {path} is not a loadable ONNX graph, it is truncated or corrupt "
                f"({type(e).__name__}: {_first_line(e)}); export the model again"
            ) from None
        if "real3d.config" not in meta:
            raise FormatError(f"OrtSegmenter: {path} carries no real3d.config metadata; export it with real3d.deploy")
        try:
            self.config = SegNetConfig.from_dict(json.loads(meta["real3d.config"]))
        except (ValueError, TypeError) as e:  # JSONDecodeError and ConfigError are ValueErrors
            raise FormatError(f"OrtSegmenter: {path} has an invalid real3d.config ({e})") from None
        self.head = meta.get("real3d.head", "refined")
        if self.head not in ("refined", "coarse"):
            raise FormatError(f"OrtSegmenter: {path} has real3d.head {self.head!r}; expected refined or coarse")
        self.precision = meta.get("real3d.precision", "fp32")
        self._model_name = meta.get("real3d.model") or self.config.name
        self.path = path
        expected = (["rgb"] if self.config.uses_rgb else []) + (["depth_m"] if self.config.uses_depth else [])
        if sorted(self.input_names) != sorted(expected) or "logits" not in outputs:
            raise FormatError(
                f"OrtSegmenter: {path} has inputs {self.input_names} and outputs {outputs}; "
                f"its config {self.config.name} needs inputs {expected} and a logits output"
            )

    @property
    def model_name(self) -> str:
        """The name of the model exported (its card's, e.g. ``rgbd-default``), else the network's."""
        return self._model_name

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
        try:
            return self.session.run(["logits"], feeds)[0]
        except Exception as e:  # onnxruntime's own classes: a graph whose weights or nodes are corrupt
            raise FormatError(
                f"OrtSegmenter ({self.model_name}): {self.path} failed to run "
                f"({type(e).__name__}: {_first_line(e)}); the graph is corrupt, export it again"
            ) from None

    def predict(
        self,
        frame: Frame,
        head: str | None = None,
        flip: bool = False,
        scales: Sequence[float] = (1.0,),
        guided: bool | None = None,
    ) -> SegmentationResult:
        """Segment one frame; ``head`` must match the exported head (or be None). ``flip``,
        ``scales`` and ``guided`` as in ``Real3DVisionNet.predict`` (each mirrored or
        rescaled frame is a run of its own)."""
        if head is not None and head != self.head:
            raise InputError(f"OrtSegmenter: this graph was exported with head {self.head!r}, asked for {head!r}")

        def run(rgb_t, depth_t) -> np.ndarray:
            ref = rgb_t if rgb_t is not None else depth_t
            outs = [
                self.run(
                    None if rgb_t is None else rgb_t[i : i + 1].contiguous().numpy(),
                    None if depth_t is None else depth_t[i : i + 1].contiguous().numpy(),
                )
                for i in range(ref.shape[0])
            ]
            return outs[0] if len(outs) == 1 else np.concatenate(outs)  # no copy for one frame

        return tta_predict(run, frame, self.config, self.head, flip, scales, guided, model_name=self.model_name)


def _first_line(e: BaseException) -> str:
    """The first line of an exception's message, at most 300 characters."""
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""
