"""Getting and running the pipeline's segmenters, and checking frames before they reach
them."""

from __future__ import annotations

import warnings

import numpy as np

from real3d.core.labels import NYU13
from real3d.core.errors import ConfigError, InputError, Real3DError, describe_array
from real3d.core.frame import Frame
from real3d.core.pose import check_pose
from real3d.core.segmentation import SegmentationResult
from real3d.models.contract import Segmenter
from real3d.models.factory import ModelSpec
from real3d.pipeline.config import PIPELINE_BACKENDS, PipelineConfig


def load_segmenter(spec: ModelSpec, backend: str = "torch", config: PipelineConfig | None = None) -> Segmenter:
    """``real3d.models.create_model(spec, backend)`` with the pipeline's settings: the
    graph cache folder (``config.cache_dir``), ``config.calibration_frames`` for INT8 and
    the intra-op threads of ``config.threads`` (``PipelineConfig.resolved_threads``; an
    int also sets torch's process-wide thread count).

    ``backend="auto"`` picks ``auto_backend``'s choice, and falls back to torch with a
    warning when that graph cannot be built (an unwritable cache, a failed export). Raises
    ConfigError for an unknown backend (the message lists the valid ones)."""
    if backend not in PIPELINE_BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(PIPELINE_BACKENDS)}")
    config = config or PipelineConfig()
    from real3d.models import create_model

    threads = config.resolved_threads()
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    kw = dict(cache_dir=config.cache_dir, threads=threads, calibration_frames=config.calibration_frames)
    if backend != "auto":
        return create_model(spec, backend, **kw)
    net = create_model(spec, "torch", **kw)
    chosen = auto_backend(net)
    if chosen == "torch":
        return net
    try:
        return create_model(net, chosen, **kw)
    except (OSError, RuntimeError, Real3DError) as e:
        # "auto" promises a working model: a cache folder that cannot be written or an
        # export that fails leaves the network in torch, said out loud
        warnings.warn(
            f"real3d: backend 'auto' could not build the {chosen} graph of {net.config.name} "
            f"({type(e).__name__}: {e}); it runs in torch",
            stacklevel=2,
        )
        return net


def auto_backend(net) -> str:
    """The backend ``"auto"`` runs ``net`` (a ``real3d.models`` network) on: ``"int8"``
    when its weights come from a file (it has a model card, so the exported graph is
    cached by content and built once), it declares itself quantizable and onnxruntime
    and onnx are installed; ``"torch"`` otherwise."""
    import importlib.util

    if getattr(net, "card", None) is None or not getattr(net, "quantizable", False):
        return "torch"
    if any(importlib.util.find_spec(m) is None for m in ("onnxruntime", "onnx")):
        return "torch"
    return "int8"


def _predict(
    segmenter: Segmenter,
    frame: Frame,
    flip: bool = False,
    scales: tuple[float, ...] = (1.0,),
    guided: bool | None = None,
    network_probs: bool = False,
) -> SegmentationResult:
    """``segmenter.predict(frame)`` with the test-time settings that differ from the
    defaults (a segmenter is asked nothing it need not do). ``network_probs``: ask a
    real3d network for its class probabilities at the network's size
    (``predict(frame, probs_at="network")``, a ``NetworkSegmentation`` the map reads
    directly) when it takes that option and no test-time augmentation or guided
    upsampling is asked; other segmenters answer as usual."""
    if network_probs and not flip and tuple(scales) == (1.0,) and not guided and _takes_probs_at(segmenter):
        if segmenter.supports_guided:
            return segmenter.predict(frame, guided=False, probs_at="network")
        return segmenter.predict(frame, probs_at="network")
    tta = {}
    if flip:
        tta["flip"] = True
    if tuple(scales) != (1.0,):
        tta["scales"] = tuple(scales)
    # guided=True always reaches predict (which refuses it without supports_guided);
    # guided=False only where it changes the answer
    if guided or (guided is not None and segmenter.supports_guided):
        tta["guided"] = bool(guided)
    return segmenter.predict(frame, **tta)


def _takes_probs_at(segmenter) -> bool:
    """Whether ``segmenter`` is one of real3d's own networks, whose ``predict`` takes
    ``probs_at`` (the torch network, onnxruntime and OpenVINO backends)."""
    from real3d.deploy.graph_segmenter import GraphSegmenter
    from real3d.models.segmentation import Real3DVisionNet

    return isinstance(segmenter, (Real3DVisionNet, GraphSegmenter))


def segment_frame(
    segmenter: Segmenter,
    frame: Frame,
    flip: bool = False,
    scales: tuple[float, ...] = (1.0,),
    guided: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a segmenter on a frame: (labels (H, W) uint8 NYUv2-13 ids 1..13, probs (13, H, W)
    float32, no void channel), as its ``predict`` gives them (``flip`` and ``scales`` passed
    on when not the defaults; ``guided`` when True, or when False for a segmenter that
    ``supports_guided``; ``predict`` raises InputError for True without that capability)."""
    r = _predict(segmenter, frame, flip, scales, guided)
    return r.labels, r.probs[1:]


def calibration_feeds_from_frames(frames, model_config) -> list[dict]:
    """Alias of ``real3d.deploy.calibration_feeds_from_frames`` (INT8 calibration lives there)."""
    from real3d.deploy.runtime import calibration_feeds_from_frames as feeds

    return feeds(frames, model_config)


def _check_segmenter(seg, role: str) -> None:
    from real3d.models.contract import missing_members

    missing = missing_members(seg)
    if missing:
        raise ConfigError(
            f"Pipeline: {role} must implement real3d.models.Segmenter; {type(seg).__name__} lacks {', '.join(missing)}"
        )
    # The map, scene graph and costmap read NYUv2-13 ids: another label set's ids would be
    # misread (warehouse floor, id 1, is NYUv2-13 bed).
    labels = seg.label_set
    if labels.name != NYU13.name:
        raise ConfigError(
            f"Pipeline: {role} {seg.name!r} predicts {labels.name!r} labels; the pipeline's map, scene graph "
            f"and costmap take NYUv2-13 ids ({NYU13.name!r}): use a NYUv2-13 model, or segment with this one "
            "alone (real3d segment, real3d eval seg)"
        )


# ---------------------------------------------------------------------------- frames
def check_frame(frame, expect_hw: tuple[int, int] | None = None) -> str | None:
    """Why ``frame`` cannot enter the pipeline, or None when it can.

    Frames are validated when built, but their arrays are mutable and drivers hand over
    objects of any kind, so the pipeline checks again: type, rgb (H, W, 3) uint8, depth
    (H, W) float32 finite and >= 0, intrinsics of the rgb size, (``expect_hw``) the
    stream's size, and a rigid pose (``pose_problem``).
    """
    if not isinstance(frame, Frame):
        return f"not a real3d.Frame ({type(frame).__name__})"
    rgb = frame.rgb
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        return f"rgb is not (H, W, 3) uint8 ({getattr(rgb, 'dtype', '?')} {getattr(rgb, 'shape', '?')})"
    hw = rgb.shape[:2]
    if expect_hw is not None and tuple(hw) != tuple(expect_hw):
        return f"wrong size: {hw[0]}x{hw[1]}, the stream is {expect_hw[0]}x{expect_hw[1]} (H x W)"
    if frame.intrinsics.size_hw != hw:
        return f"intrinsics are for {frame.intrinsics.height}x{frame.intrinsics.width}, rgb is {hw[0]}x{hw[1]}"
    d = frame.depth_m
    if d is not None:
        if not (isinstance(d, np.ndarray) and d.shape == hw and d.dtype == np.float32):
            return f"depth is not ({hw[0]}, {hw[1]}) float32 ({getattr(d, 'dtype', '?')} {getattr(d, 'shape', '?')})"
        bad = ~np.isfinite(d)
        if bad.any():
            return f"depth has {int(bad.sum())} NaN/inf pixels"
        if (d < 0).any():
            return f"depth has {int((d < 0).sum())} negative pixels"
    if frame.world_T_cam is not None:
        return pose_problem(frame.world_T_cam)
    return None


def pose_problem(world_T_cam) -> str | None:
    """Why ``world_T_cam`` is not a rigid transform (shape (4, 4), real and finite, bottom
    row [0, 0, 0, 1], rotation block orthonormal with det +1 within 1e-4, as ``Frame``
    checks when built), or None when it is. A pose scaled or sheared after the frame was
    built would stretch everything it places."""
    T = world_T_cam
    if not isinstance(T, np.ndarray) or T.shape != (4, 4):
        return f"pose is not a (4, 4) matrix ({describe_array(T)})"
    if T.dtype.kind not in "fiu":
        return f"pose is not a real-valued matrix ({T.dtype})"
    if not np.isfinite(T).all():
        return "pose has NaN/inf entries"
    R = T[:3, :3].astype(np.float64)
    tol = 1e-4
    if np.abs(T[3] - _BOTTOM).max() <= tol and np.abs(R @ R.T - _EYE3).max() <= tol and np.linalg.det(R) > 0:
        return None  # the cheap test of every frame; check_pose words the failures
    try:
        check_pose(T, "pose", tol=tol)
    except InputError as e:
        return f"pose is not a rigid transform: {e}"
    return None


_BOTTOM = np.array([0.0, 0.0, 0.0, 1.0])
_EYE3 = np.eye(3)


def implausible_depth(depth_m: np.ndarray, min_median_m: float, max_median_m: float) -> str | None:
    """Why the valid (> 0) depth of a frame is implausible for a room, or None.

    The median of the valid pixels (a regular subsample) must lie in [``min_median_m``,
    ``max_median_m``]; outside, the depth scale is almost certainly wrong (millimetres
    read as metres put a room a few kilometres away, where the map adds nothing).
    """
    sub = depth_m[::4, ::4]
    v = sub[sub > 0]
    if v.size < 16:
        v = depth_m[depth_m > 0]
    if v.size == 0:
        return None
    med = float(np.median(v))
    if med > max_median_m:
        hint = " (whole numbers: millimetres passed as metres?)" if np.all(v == np.round(v)) else ""
        return f"depth implausible for a room: median {med:.4g} m > {max_median_m:g} m{hint}"
    if med < min_median_m:
        return f"depth implausible for a room: median {med:.4g} m < {min_median_m:g} m (wrong depth scale?)"
    return None
