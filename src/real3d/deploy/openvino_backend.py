"""OpenVINO backend: the exported graph (in practice the static INT8 one) served by
OpenVINO's CPU plugin, with the same ``predict`` API as the torch models.

OpenVINO is an optional dependency (the ``openvino`` extra); without it,
``OpenVinoSegmenter`` and ``create_model(spec, backend="openvino")`` raise ConfigError
naming what to install.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from real3d.core.errors import ConfigError, FormatError
from real3d.deploy.graph_segmenter import GraphSegmenter, first_line

OPENVINO_PRECISIONS = ("f32", "bf16")
"""``OpenVinoSegmenter(precision=...)``: what the plugin may run the graph's float parts in
(its INT8 parts stay INT8). ``"f32"`` keeps the float parts as exported; ``"bf16"`` is
faster on CPUs with bfloat16 units and changes some labels."""

INSTALL_HINT = "pip install 'real3d[openvino]' (or pip install openvino)"


def import_openvino():
    """The ``openvino`` module; ConfigError naming the extra to install when it is missing."""
    try:
        import openvino
    except ImportError as e:
        raise ConfigError(
            f"backend 'openvino' needs the openvino package, which is not installed ({e}); {INSTALL_HINT}"
        ) from None
    return openvino


class OpenVinoSegmenter(GraphSegmenter):
    """Runs an exported segmentation graph with OpenVINO on CPU.

    ``predict`` and ``run`` behave as ``OrtSegmenter``'s: frames of any size, the answer at
    the frame's size (or a ``NetworkSegmentation`` with ``probs_at="network"``); ``run``
    takes rgb (B, 3, H, W) float32 [0, 1] and depth_m (B, 1, H, W) float32 metres and
    returns (B, K, H, W) float32 logits. The graph is compiled once per input size (the
    first frame of a size pays for it; a stream keeps one size). Calls are serialised: one
    inference request per compiled size.

    Implements ``real3d.models.Segmenter``; capability flags as ``OrtSegmenter``.
    """

    runtime = "OpenVinoSegmenter"

    def __init__(self, path: str | Path, threads: int = 0, precision: str = "f32"):
        """Open the exported graph at ``path``. ``threads``: inference threads (0 = the
        plugin's default); ``precision``: one of ``OPENVINO_PRECISIONS``.

        Raises:
            ConfigError: openvino is not installed, or an unknown ``precision`` or a
                negative ``threads``.
            FormatError: a missing, empty or corrupt file, a graph OpenVINO cannot read, or
                one without the metadata ``real3d.deploy`` writes.
        """
        ov = import_openvino()
        if precision not in OPENVINO_PRECISIONS:
            raise ConfigError(
                f"OpenVinoSegmenter: unknown precision {precision!r}; valid: {', '.join(OPENVINO_PRECISIONS)}"
            )
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ConfigError(f"OpenVinoSegmenter: threads: expected an integer >= 0, got {threads!r}")
        path = Path(path)
        if not path.is_file():
            raise FormatError(f"OpenVinoSegmenter: no such ONNX file {path}")
        if path.stat().st_size == 0:
            raise FormatError(f"OpenVinoSegmenter: {path} is empty; export the model again (real3d export)")
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(path))
            info = self._model.get_rt_info()
            framework = info["framework"] if "framework" in info else {}
            meta = {k: v.astype(str) for k, v in framework.items()}
            input_names = [i.get_any_name() for i in self._model.inputs]
            outputs = [o.get_any_name() for o in self._model.outputs]
        except Exception as e:  # OpenVINO raises RuntimeError and its own classes
            raise FormatError(
                f"OpenVinoSegmenter: {path} is not a readable ONNX graph, it is truncated or corrupt "
                f"({type(e).__name__}: {first_line(e)}); export the model again"
            ) from None
        self._read_metadata(path, meta, input_names, outputs)
        self.threads = threads
        self.precision_hint = precision
        self._plugin_config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": precision}
        if threads:
            self._plugin_config["INFERENCE_NUM_THREADS"] = threads
        self._requests: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def _request(self, feeds: dict[str, np.ndarray]):
        """The inference request compiled for the shapes of ``feeds`` (compiled on first use)."""
        key = tuple(sorted((k, v.shape) for k, v in feeds.items()))
        req = self._requests.get(key)
        if req is None:
            model = self._model.clone()
            model.reshape({k: list(v.shape) for k, v in feeds.items()})
            req = self._core.compile_model(model, "CPU", self._plugin_config).create_infer_request()
            self._requests[key] = req
        return req

    def _infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        try:
            with self._lock:
                # share_inputs: the arrays are read in place; outputs are copied out of the request
                return self._request(feeds).infer(feeds, share_inputs=True)[0]
        except Exception as e:  # OpenVINO's RuntimeError: a graph whose weights or nodes are corrupt
            raise FormatError(
                f"OpenVinoSegmenter ({self.model_name}): {self.path} failed to compile or run "
                f"({type(e).__name__}: {first_line(e)}); the graph is corrupt, export it again"
            ) from None
