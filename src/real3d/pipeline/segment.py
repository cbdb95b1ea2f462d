"""Getting and running the pipeline's segmenters, and checking frames before they reach
them."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from real3d.core.labels import NYU13, LabelSet, get_label_set
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
    """Run a segmenter on a frame: (labels (H, W) uint8 ids 1..K of its label set, probs
    (K, H, W) float32, no void channel; K = 13 for NYUv2-13), as its ``predict`` gives
    them (``flip`` and ``scales`` passed on when not the defaults; ``guided`` when True,
    or when False for a segmenter that ``supports_guided``; ``predict`` raises InputError
    for True without that capability)."""
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


def pipeline_label_set(segmenter, rgb_segmenter, config: PipelineConfig) -> LabelSet:
    """The label set of a pipeline's map, scene graph and costmap: the segmenters' (both
    must predict the same one), or without a segmenter ``config.scene_graph.label_set``
    (the frames' own labels are fused then).

    Raises:
        ConfigError: the two segmenters predict different label sets, or the label set has
            no scene-graph roles (``real3d.scene.roles.roles_for``; the message lists the
            label sets that have them).
    """
    from real3d.scene.roles import roles_for

    names = {role: seg.label_set for role, seg in (("model", segmenter), ("rgb_model", rgb_segmenter)) if seg}
    if len({ls.name for ls in names.values()}) > 1:
        raise ConfigError(
            "Pipeline: the segmenters predict different label sets ("
            + ", ".join(f"{role} {ls.name!r}" for role, ls in names.items())
            + "); the map, scene graph and costmap hold one: give an RGB-only model of the same label set, "
            "or none (rgb_model=None; frames without depth are then skipped)"
        )
    label_set = next(iter(names.values())) if names else get_label_set(config.scene_graph.label_set)
    try:
        roles_for(label_set.name)
    except ConfigError as e:
        raise ConfigError(
            f"Pipeline: the map, scene graph and costmap cannot take {label_set.name!r} ids: {e}"
        ) from None
    return label_set


def config_for_label_set(config: PipelineConfig, label_set: LabelSet) -> PipelineConfig:
    """``config`` with its map, scene graph and costmap set to ``label_set``: the map's
    ``num_classes`` (void included) and the ``label_set`` of ``SceneGraphConfig`` and
    ``CostmapConfig``. ``config`` itself when they already are. A field left at its
    NYUv2-13 default follows the label set; one set to another label set is refused.

    Raises:
        ConfigError: ``config`` names another label set (or class count) than ``label_set``,
            or a map refiner with a label set other than NYUv2-13 (the refiner is learnt on
            NYUv2-13 classes).
    """
    n = len(label_set.names)
    changes = {}
    mc = config.map
    if mc.num_classes != n:
        if mc.num_classes != len(NYU13.names):
            raise ConfigError(
                f"PipelineConfig.map.num_classes is {mc.num_classes}, but the segmentation model predicts "
                f"{label_set.name!r} ({n} classes with void)"
            )
        changes["map"] = dataclasses.replace(mc, num_classes=n)
    for name in ("scene_graph", "costmap"):
        sub = getattr(config, name)
        if sub.label_set == label_set.name:
            continue
        if sub.label_set != NYU13.name:
            raise ConfigError(
                f"PipelineConfig.{name}.label_set is {sub.label_set!r}, but the segmentation model predicts "
                f"{label_set.name!r}"
            )
        changes[name] = dataclasses.replace(sub, label_set=label_set.name)
    if config.map_refiner is not None and label_set.name != NYU13.name:
        raise ConfigError(
            f"PipelineConfig.map_refiner: the 3D map refiner predicts NYUv2-13 classes; the map holds "
            f"{label_set.name!r} ids (run without a map refiner)"
        )
    return dataclasses.replace(config, **changes) if changes else config


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
