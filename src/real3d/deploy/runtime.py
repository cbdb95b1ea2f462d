"""A torch network on a graph backend (onnxruntime, or OpenVINO when installed): export,
static INT8 calibration and a graph cache keyed by the weights' content.
``real3d.models.create_model(spec, backend=...)`` and the pipeline get their ONNX, INT8 and
OpenVINO segmenters here."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from real3d.core.errors import ConfigError, FormatError
from real3d.core.files import atomic_write_text
from real3d.deploy.graph_segmenter import GraphSegmenter
from real3d.deploy.ort_backend import OrtSegmenter
from real3d.models.cards import file_sha256
from real3d.models.segmentation import Real3DVisionNet

ORT_BACKENDS = ("onnx", "int8")
GRAPH_BACKENDS = (*ORT_BACKENDS, "openvino")
"""``"onnx"``: onnxruntime FP32; ``"int8"``: onnxruntime static INT8; ``"openvino"``: the same
INT8 graph on OpenVINO (the ``openvino`` extra)."""


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, or ``$XDG_CACHE_HOME/real3d`` (``~/.cache/real3d``) when None."""
    if cache_dir is not None:
        return Path(cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "real3d"


def weights_key(net: Real3DVisionNet) -> str:
    """Content hash of a network's weights and INT8 recipe (random-init presets differ per build)."""
    from real3d.models.pretrained import weights_fingerprint

    return weights_fingerprint(net, repr((net.card or {}).get("int8_keep_float")))


def calibration_feeds_from_frames(frames, model_config) -> list[dict]:
    """INT8 calibration inputs from Frames: dicts of ``rgb`` (1, 3, h, w) float32 [0, 1] and
    ``depth_m`` (1, 1, h, w) float32 metres at the model's network size."""
    from real3d.models.segmentation import frame_to_tensors

    feeds = []
    for f in frames:
        rgb_t, depth_t, _ = frame_to_tensors(f, model_config)
        d = {}
        if rgb_t is not None:
            d["rgb"] = rgb_t.numpy().astype(np.float32)
        if depth_t is not None:
            d["depth_m"] = depth_t.numpy().astype(np.float32)
        feeds.append(d)
    return feeds


def ort_segmenter(
    net: Real3DVisionNet,
    backend: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    calibration_frames: int = 16,
) -> GraphSegmenter:
    """``net`` exported to ONNX and served by a graph runtime (``GRAPH_BACKENDS``):
    ``"onnx"`` (onnxruntime FP32), ``"int8"`` (onnxruntime, static INT8, calibrated on
    ``calibration_frames`` synthetic frames) or ``"openvino"`` (that INT8 graph on
    OpenVINO, ``OpenVinoSegmenter``; ConfigError naming the extra when openvino is missing).

    For weights loaded from a file (a network with a model card) the graphs are kept in
    ``cache_root(cache_dir) / "onnx"`` (file name = content hash of the weights and the INT8
    recipe) and reused; random-init presets differ on every build, so their graphs live in
    a temporary folder only until onnxruntime has read them. A cached graph is checked
    against the sha256 recorded beside it and rebuilt when corrupt (``cached_graph``,
    with a ``CacheRebuiltWarning``). ``threads``: onnxruntime
    intra-op threads (None or 0: its default). Raises ConfigError for an unknown backend or
    a network that does not declare the capability the backend needs.
    """
    from real3d.deploy.onnx_export import DEFAULT_WEIGHT_FORMAT, export_onnx, quantize_int8

    if backend not in GRAPH_BACKENDS:
        raise ConfigError(f"ort_segmenter: unknown backend {backend!r}; valid: {', '.join(GRAPH_BACKENDS)}")
    if backend in ("int8", "openvino") and not net.quantizable:
        raise ConfigError(f"{net.config.name} does not declare itself quantizable")
    opener = OrtSegmenter
    if backend == "openvino":
        from real3d.deploy.openvino_backend import OpenVinoSegmenter, import_openvino

        import_openvino()  # before any export: say what to install first
        opener = OpenVinoSegmenter
    cached = net.card is not None
    root = cache_root(cache_dir) / "onnx"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=root))
    threads = threads or 0
    try:
        key = f"{net.config.name}-{weights_key(net)}"
        final_dir = root if cached else work
        fp32 = final_dir / f"{key}.onnx"

        def export(path: Path) -> None:
            # written whole or not at all (real3d.core.files): a concurrent run never reads half a file
            export_onnx(net, path, size_hw=net.config.infer_hw)

        if backend == "onnx":
            return cached_graph(fp32, export, threads)
        # the name carries the weight format, so a graph cached with another one is not reused

        def quantize(path: Path) -> None:
            from real3d.train.data import calibration_frames as synthetic_frames

            cached_graph(fp32, export, threads)  # the FP32 graph, checked or rebuilt
            frames = synthetic_frames(max(1, int(calibration_frames)), net.config.infer_hw)
            quantize_int8(fp32, path, calibration_feeds_from_frames(frames, net.config))

        return cached_graph(final_dir / f"{key}.int8-{DEFAULT_WEIGHT_FORMAT}.onnx", quantize, threads, opener)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class CacheRebuiltWarning(UserWarning):
    """A graph in the export cache was corrupt (its digest or onnxruntime said so) and was
    built again."""


_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def digest_path(graph: str | os.PathLike) -> Path:
    """The file beside a cached graph that records its sha256 (``G.onnx`` -> ``G.onnx.sha256``)."""
    graph = Path(graph)
    return graph.with_name(graph.name + ".sha256")


def cached_graph(
    path: Path,
    build: Callable[[Path], None],
    threads: int = 0,
    opener: Callable[..., GraphSegmenter] = OrtSegmenter,
) -> GraphSegmenter:
    """The graph at ``path`` served by ``opener(path, threads=threads)`` (default:
    onnxruntime), built by ``build(path)`` when absent.

    A cached graph is reused only when its sha256 matches the digest recorded beside it
    (``digest_path``) and onnxruntime loads it; otherwise it is removed and built again,
    with a ``CacheRebuiltWarning`` (once per path and process). A graph cached without a
    digest (by an older real3d) is reused when onnxruntime loads it, and its digest is
    recorded then. The digest is written after the graph, each atomically.
    """
    path = Path(path)
    if path.is_file():
        try:
            _check_digest(path)
            seg = opener(path, threads=threads)
            if not digest_path(path).is_file():
                atomic_write_text(digest_path(path), file_sha256(path) + "\n")
            return seg
        except FormatError as e:
            _warn_rebuild(path, e)
            path.unlink(missing_ok=True)
            digest_path(path).unlink(missing_ok=True)
    build(path)
    atomic_write_text(digest_path(path), file_sha256(path) + "\n")
    return opener(path, threads=threads)


def _check_digest(path: Path) -> None:
    """FormatError when the digest recorded beside ``path`` is unreadable or differs from
    the file's; nothing when none is recorded."""
    rec = digest_path(path)
    if not rec.is_file():
        return
    try:
        expected = rec.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"the digest {rec} is unreadable ({e})") from None
    actual = file_sha256(path)
    if actual != expected:
        raise FormatError(f"{path} has sha256 {actual}, {rec} records {expected[:64]!r}")


def _warn_rebuild(path: Path, err: Exception) -> None:
    with _WARNED_LOCK:
        first = str(path) not in _WARNED
        _WARNED.add(str(path))
    if first:
        warnings.warn(
            f"the cached graph {path} was corrupt and is built again: {err}", CacheRebuiltWarning, stacklevel=4
        )
