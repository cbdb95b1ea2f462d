"""The streaming pipeline: segmentation -> semantic map -> scene graph -> navigation.

``Pipeline(config)`` composes the stages; ``step(frame)`` runs one frame through all of
them synchronously, ``run(frames)`` streams a whole source with the stages overlapping in
threads (segmentation of frame i + 1 while the map fuses frame i; torch, onnxruntime and
most numpy kernels release the GIL, so the stages really run side by side on two cores;
the streaming half is ``real3d.pipeline.stream.StreamRunner``, a base class of ``Pipeline``).

Two modes:

* ``"offline"``: every frame is processed, queues block instead of dropping, and the result
  is identical to calling ``step`` on each frame in order (deterministic).
* ``"realtime"``: the source is replayed at its own rate (frame timestamps, or
  ``source_fps``); when frames arrive faster than the pipeline takes them, the bounded input
  queue applies ``overload_policy``:

  - ``"drop"``: the oldest waiting frame is dropped so the freshest is processed next;
  - ``"keyframe"``: a frame that moved less than ``keyframe_translation_m`` /
    ``keyframe_rotation_deg`` from the last accepted frame is dropped when the queue is
    full; a keyframe always gets in (it evicts the oldest waiting frame).

  Every dropped frame is counted and reported with its index. A pause in the recording
  longer than ``max_gap_s`` is replayed as ``max_gap_s`` and reported (``RunSummary.gaps``).

``run(source, stop=event)`` ends early when ``event`` is set (``real3d run`` sets it on
SIGINT / SIGTERM): no further frame is read, a realtime wait ends within 50 ms, and the
summary says ``stopped``.

Per frame, in this order (nothing here is fatal; every outcome is a ``StepResult.status``):

* not a Frame, mutated into an invalid state (NaN/inf/negative depth, depth or intrinsics
  of another size than rgb, a pose that is no longer a rigid transform), a size different
  from the stream's first frame, no pose (``missing_pose="skip"``), a pose outside the
  map's coordinate range, a pose jump beyond ``pose_max_speed_mps`` (see "Pose checks"
  below), or a reader error (truncated or corrupt image) -> ``"skipped"`` with the reason;
* no depth, fewer than ``min_valid_depth`` valid depth pixels, depth whose median is
  implausible for a room (``min_median_depth_m``, ``max_median_depth_m``: a unit error;
  warned once), or, with ``health_check``, depth that fails the sensor health check
  (``real3d.robust.health``) -> the RGB-only model segments it; without a ``depth_model``
  the map is not updated -> ``"rgb_only"``; with one, the frame's depth is predicted from
  its colour image and fused with ``predicted_depth_weight`` and a truncation
  ``predicted_truncation_scale`` times the map's -> ``"fused"``, ``depth_source``
  ``"predicted"``;
* otherwise the RGB-D model segments it and the map fuses its class probabilities ->
  ``"fused"``;
* the network or the map rejects the frame (an error of real3d, torch or onnxruntime) ->
  ``"skipped"`` ("segmentation failed: ...") or ``"rgb_only"`` ("fusion failed: ...").

The scene graph and the costmap are derived from the map every ``graph_every`` /
``costmap_every`` fused frames (amortised; by default on a background thread over a
snapshot of the map, see ``real3d.pipeline.refresh``) and on demand (``scene_graph``,
``costmap``, ``plan``: always from the current map). Their grids are capped (``CostmapConfig.max_extent_m``,
``SceneGraphConfig.max_extent_m``): a larger map is covered around the camera only.

Pose checks: a frame's camera must not move farther from the last accepted pose than
``pose_max_speed_mps * dt + pose_max_jump_m`` (dt from the timestamps; without usable
timestamps ``pose_max_step_m`` per frame instead of the speed term). A jumping frame is
skipped; once ``pose_reanchor_after`` consecutive jumping frames agree with each other,
the next one that agrees is taken as a relocalisation and becomes the reference. One-off
events of a run (the first implausible depth, the first re-anchor, a cropped costmap) are
warned once (``warnings.warn``) and kept in ``Pipeline.notes``.
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from numpy.typing import ArrayLike

from real3d.core.errors import ConfigError, InputError, Real3DError
from real3d.core.frame import Frame
from real3d.core.labels import LabelSet
from real3d.core.segmentation import SegmentationResult
from real3d.mapping.semantic_map import SemanticMap
from real3d.models.contract import Segmenter
from real3d.nav.costmap import Costmap, IncrementalCostmap
from real3d.nav.planner import Path as NavPath
from real3d.nav.planner import plan_path
from real3d.pipeline.config import PipelineConfig
from real3d.pipeline.refresh import (
    REFRESH_KINDS,
    RefreshJob,
    build_graph_costmap,
    publish_graph,
    run_refresh,
    snapshot_map,
)
from real3d.pipeline.results import StepResult, count_health
from real3d.pipeline.segment import (
    _check_segmenter,
    _predict,
    check_frame,
    config_for_label_set,
    implausible_depth,
    load_segmenter,
    pipeline_label_set,
    pose_problem,
)
from real3d.pipeline.source import _floor_pose, _Item
from real3d.pipeline.stream import StreamRunner
from real3d.scene.graph import SceneGraph


#: refresh latencies ``Pipeline.refresh_ms`` keeps per kind
REFRESH_LOG = 1000
#: the checks of the sensor health check, as ``RunSummary.health["by_fault"]`` counts them


class Pipeline(StreamRunner):
    """Segmentation -> semantic map -> scene graph -> navigation, frame by frame.

    Example::

        pipe = Pipeline.default()                  # shipped weights
        for frame in real3d.io.open_sequence(path):
            r = pipe.step(frame)                   # StepResult
        pipe.scene_graph.to_json("graph.json")
        path = pipe.plan((2.0, 1.5))               # nav Path, world metres

    Args:
        config: PipelineConfig (default settings when None).
        segmenter, rgb_segmenter: already built segmenters (``real3d.models.Segmenter``)
            instead of loading ``config.model`` / ``config.rgb_model``.
        map_refiner: an already built ``real3d.models.MapRefiner`` (anything with
            ``refine(SemanticMap)``) instead of loading ``config.map_refiner``.
        depth_net: an already built ``real3d.models.depth.DepthNet`` instead of loading
            ``config.depth_model``.

    The map, scene graph and costmap hold the segmenters' label set (``label_set``: a
    NYUv2-13 or warehouse model; ``real3d.pipeline.segment.config_for_label_set`` sets
    ``config``'s map, scene graph and costmap to it).

    Raises:
        ConfigError: a segmenter that does not implement ``Segmenter``, an RGB-only
            segmenter that needs depth, segmenters of two label sets, a label set without
            scene-graph roles, or a config naming another label set.
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        segmenter: Segmenter | None = None,
        rgb_segmenter: Segmenter | None = None,
        map_refiner=None,
        depth_net=None,
    ) -> None:
        self.config = config = config or PipelineConfig()
        if segmenter is None and config.model is not None:
            segmenter = load_segmenter(config.model, config.backend, config)
        if rgb_segmenter is None and config.rgb_model is not None:
            rgb_segmenter = load_segmenter(config.rgb_model, config.backend, config)
        for seg, role in ((segmenter, "segmenter"), (rgb_segmenter, "rgb_segmenter")):
            if seg is not None:
                _check_segmenter(seg, role)
        if rgb_segmenter is not None and rgb_segmenter.uses_depth:
            raise ConfigError(f"rgb_model {rgb_segmenter.name} needs depth; choose an RGB-only model")
        #: the label set of the map's, scene graph's and costmap's class ids: the segmenters'
        #: (without one, ``config.scene_graph.label_set``)
        self.label_set: LabelSet = pipeline_label_set(segmenter, rgb_segmenter, config)
        self.config = config = config_for_label_set(config, self.label_set)
        self.segmenter: Segmenter | None = segmenter
        self.rgb_segmenter: Segmenter | None = rgb_segmenter
        if map_refiner is None and config.map_refiner is not None:
            from real3d.models.map_refiner import MapRefiner

            map_refiner = MapRefiner(config.map_refiner)
        if map_refiner is not None and not callable(getattr(map_refiner, "refine", None)):
            raise ConfigError(
                f"map_refiner: expected an object with refine(SemanticMap), got {type(map_refiner).__name__}"
            )
        self.map_refiner = map_refiner
        if depth_net is None and config.depth_model is not None:
            from real3d.models.depth import load_depth_model

            depth_net = load_depth_model(config.depth_model)
        if depth_net is not None and not callable(getattr(depth_net, "predict", None)):
            raise ConfigError(f"depth_net: expected a DepthNet, got {type(depth_net).__name__}")
        if depth_net is not None and rgb_segmenter is None and (segmenter is None or segmenter.uses_depth):
            raise ConfigError(
                "depth_model: frames without depth need an RGB-only segmentation model (rgb_model) to fuse "
                "predicted depth"
            )
        self.depth_net = depth_net
        self._check_health = None
        if config.health_check:
            from real3d.robust.health import check_health

            self._check_health = check_health
        self._executor: ThreadPoolExecutor | None = None
        self._pending: tuple[RefreshJob, Future] | None = None
        #: milliseconds of the latest refreshes, by kind ("snapshot", "refine", "graph",
        #: "costmap"), the last ``REFRESH_LOG`` of each, wherever they ran
        self.refresh_ms: dict[str, deque] = {k: deque(maxlen=REFRESH_LOG) for k in ("snapshot", *REFRESH_KINDS)}
        self._refresh_sink: dict[str, list] | None = None
        self.reset()

    @classmethod
    def default(cls, **overrides) -> Pipeline:
        """The shipped RGB-D and RGB-only weights with the default settings: the fastest
        backend that keeps the labels (``backend="auto"``: INT8 onnxruntime when installed;
        the first call exports and calibrates the graphs once into the ONNX cache), the
        network's threads chosen from the core count, refreshes in the background.
        ``overrides`` replace PipelineConfig fields. Raises ConfigError when the shipped
        weights are not installed or an override is invalid."""
        from real3d.models.pretrained import WEIGHTS_DIR

        config = PipelineConfig(**overrides)
        missing = [
            str(WEIGHTS_DIR / f"{n}.{ext}")
            for n in (config.model, config.rgb_model)
            if n in ("rgbd-default", "rgb-default")
            for ext in ("safetensors", "json")
            if not (WEIGHTS_DIR / f"{n}.{ext}").is_file()
        ]
        if missing:
            raise ConfigError(
                "Pipeline.default: the shipped weights are missing (" + ", ".join(missing) + "); "
                "install a release that ships them, or give the models as a .safetensors path "
                "or a preset name (random weights, for testing only): model= / rgb_model= in "
                "Python, --model / --rgb-model on the command line"
            )
        return cls(config)

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the map, graph, costmap and trajectory (models stay loaded); a background
        refresh in flight is waited for and dropped."""
        cfg = self.config
        self._finish_refresh(publish=False)
        self.map = SemanticMap(cfg.map)
        # The working graph is updated in place (node ids stay stable from one update to
        # the next); with background refreshes the pipeline hands out copies of it.
        self._work_graph = SceneGraph(cfg.scene_graph)
        self._graph = publish_graph(self._work_graph) if cfg.background_refresh else self._work_graph
        self._costmap: Costmap | None = None
        # One incremental costmap, used by one refresh at a time (the worker's or the frame's).
        self._costmap_builder = IncrementalCostmap(cfg.costmap)
        self._costmap_version = -1
        #: ``frames_fused`` of the map the graph / costmap in use were built from (-1: none yet)
        self.refreshed_at: dict[str, int] = {"graph": -1, "costmap": -1}
        #: frames that waited for a background refresh, and background refreshes that failed
        self.refresh_waits = 0
        self.refresh_errors = 0
        #: (3,) float64 camera positions of the fused frames, gravity frame, metres, oldest
        #: first; the last entry is always the latest fused position. Entries are at least
        #: ``trajectory_step_m`` apart (thinned to every other one, the spacing doubled,
        #: when ``trajectory_max_points`` is reached), so it stays bounded on long runs.
        self.trajectory: list[np.ndarray] = []
        self._trajectory_step_m = cfg.trajectory_step_m
        # (position (3,), timestamp_s or None, index) of the last pose accepted by the jump
        # check, and the same with a count for the consecutive rejected frames that agree.
        self._pose_ref: tuple | None = None
        self._pose_candidate: tuple | None = None
        #: how often the pose check re-anchored (took a sustained jump as a relocalisation)
        self.pose_reanchors = 0
        #: one-off events of the run, by kind ("depth", "pose", "costmap"): the message
        self.notes: dict[str, str] = {}
        self.gravity_T_world: np.ndarray | None = None if cfg.gravity == "floor" else np.eye(4)
        #: how the gravity frame was found (for reports)
        self.gravity_note = "poses used as given (z up)" if cfg.gravity == "off" else "no frame fused yet"
        self._gravity_tries = 0
        self._gravity_wait_reason = ""
        self.size_hw: tuple[int, int] | None = None
        self.frames_fused = 0
        self._graph_at = self._costmap_at = self._refine_at = 0  # frames_fused at the last periodic refresh
        #: (C,) int64 segmented pixels per class of ``label_set`` (C with void) over the run
        self.class_pixels = np.zeros(len(self.label_set.names), np.int64)
        self._last_key_pose: np.ndarray | None = None
        self.path: NavPath | None = None

    def close(self) -> None:
        """Publish the background refresh in flight and end its thread (a later frame
        starts a new one). The map, graph and costmap stay."""
        self._finish_refresh()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def scene_graph(self) -> SceneGraph:
        """The scene graph of the current map (refreshed when the map changed). With
        ``background_refresh`` it is a copy that later refreshes replace, not change."""
        self._finish_refresh()
        if self.map.version != self._work_graph.map_version and len(self.map):
            self._refine_map()
            t0 = time.perf_counter()
            self._work_graph.update(self.map)
            self._graph = publish_graph(self._work_graph) if self.config.background_refresh else self._work_graph
            self._record_refresh("graph", (time.perf_counter() - t0) * 1e3)
            self.refreshed_at["graph"] = self.frames_fused
        return self._graph

    def _refine_map(self) -> float:
        """Run the map refiner when the map changed since its last run; returns ms."""
        ref = self.map.refinement
        if (
            self.map_refiner is None
            or not len(self.map)
            or (ref is not None and ref.map_version + 1 == self.map.version)
        ):
            return 0.0
        t0 = time.perf_counter()
        self.map_refiner.refine(self.map)
        self._refine_at = self.frames_fused
        ms = (time.perf_counter() - t0) * 1e3
        self._record_refresh("refine", ms)
        return ms

    @property
    def costmap(self) -> Costmap | None:
        """The costmap of the current map (rebuilt when the map changed); None while the
        map is empty."""
        self._finish_refresh()
        if not len(self.map):
            return None
        if self._costmap is None or self._costmap_version != self.map.version:
            self._refresh_costmap()
        return self._costmap

    @property
    def last_refreshed(self) -> tuple[SceneGraph, Costmap | None]:
        """``(scene graph, costmap or None)`` as the last periodic refresh left them, without
        starting one (``scene_graph`` and ``costmap`` rebuild from the current map when it
        changed, which mid-run costs a refresh and, offline, changes the run's schedule).
        For viewers and loggers that show the run as it goes."""
        return self._graph, self._costmap

    def plan(self, goal_xy: ArrayLike, start_xy: ArrayLike | None = None) -> NavPath:
        """Path from ``start_xy`` (default: the last fused camera position) to ``goal_xy``,
        both (2,) world metres in the map's frame (z up), on the current costmap. The
        robot's footprint at the start counts as free (``Costmap.with_free_footprint``;
        the costmap itself is left as it is). Raises NoPathError (no map yet, outside,
        blocked or disconnected)."""
        from real3d.core.errors import NoPathError

        cm = self.costmap
        if cm is None:
            raise NoPathError("Pipeline.plan: the map is empty; fuse frames first")
        if start_xy is None:
            if not self.trajectory:
                raise NoPathError("Pipeline.plan: no camera position yet; pass start_xy")
            start_xy = self.trajectory[-1][:2]
        self.path = plan_path(
            cm, goal_xy, start_xy, method=self.config.plan_method, goal_tolerance_m=self.config.goal_tolerance_m
        )
        return self.path

    def refresh_costmap(self, floor_z_m: float | None = None) -> Costmap:
        """Rebuild the costmap from the current map now and return it.

        ``floor_z_m``: the floor height the robot's height band starts from; None: the
        scene graph's floor estimate once the graph has been built, else 0. The object
        layer takes the graph's objects as of its last refresh (none before the first)."""
        self._finish_refresh()
        self._refresh_costmap(floor_z_m)
        return self._costmap

    def _refresh_costmap(self, floor_z_m: float | None = None) -> float:
        t0 = time.perf_counter()
        # The object layer takes the graph as it was last refreshed (every graph_every frames).
        center = self.trajectory[-1][:2] if self.trajectory else None
        self._costmap = build_graph_costmap(self._costmap_builder, self.map, self._work_graph, center, floor_z_m)
        self._costmap_version = self.map.version
        self.refreshed_at["costmap"] = self.frames_fused
        self._note_cropped(self._costmap)
        ms = (time.perf_counter() - t0) * 1e3
        self._record_refresh("costmap", ms)
        return ms

    def _note_cropped(self, costmap: Costmap) -> None:
        """Note (once) that ``costmap`` covers only part of the map."""
        full = costmap.cropped_from_xy
        if full is not None:
            g = costmap.grid
            x0, y0 = g.origin_xy
            self._note(
                "costmap",
                f"the map spans {full[2] - full[0]:.1f} x {full[3] - full[1]:.1f} m, more than "
                f"CostmapConfig.max_extent_m / max_cells allow: the costmap covers "
                f"x [{x0:.1f}, {x0 + g.shape[1] * g.resolution_m:.1f}], y [{y0:.1f}, "
                f"{y0 + g.shape[0] * g.resolution_m:.1f}] m around the camera",
            )

    def _note(self, kind: str, message: str, warn: bool = True) -> None:
        """Keep a one-off event of the run in ``notes``; warn the first time of its kind."""
        first = kind not in self.notes
        self.notes[kind] = message
        if first and warn:
            warnings.warn(f"real3d Pipeline: {message}", stacklevel=3)

    def _record_position(self, position: np.ndarray) -> None:
        """Append a fused camera position to ``trajectory`` (see ``reset``)."""
        traj = self.trajectory
        position = np.array(position[:3], np.float64)
        if len(traj) >= 2 and np.linalg.norm(traj[-1] - traj[-2]) < self._trajectory_step_m:
            traj[-1] = position  # the last entry moves along until it is far enough out
        else:
            traj.append(position)
        limit = self.config.trajectory_max_points
        if limit is not None and len(traj) > limit:
            traj[:] = traj[::-1][::2][::-1]  # every other entry, the latest kept
            self._trajectory_step_m *= 2

    # ------------------------------------------------------------------ stages
    def _check(self, item: _Item) -> bool:
        """Validate and place the frame; sets status/reason when it must be skipped."""
        t0 = time.perf_counter()
        f = item.frame
        reason = check_frame(f, self.size_hw)
        if reason is None:
            pose = f.world_T_cam
            if pose is None and f.depth_m is not None and self.config.missing_pose == "gravity":
                try:
                    # A single frame has nothing better to wait for: its best level plane
                    # (a desk when the floor is hidden) places it.
                    pose = _floor_pose(f, strict=False)
                except Real3DError as e:
                    reason = f"no pose, and no floor for a gravity pose ({e})"
            elif pose is None:
                reason = "missing pose"
            else:
                reason = self._map_range_problem(pose) or self._pose_jump(item, f, pose)
            item.pose = pose
        if reason is None and self.size_hw is None:
            self.size_hw = tuple(f.size_hw)
        item.lat["check"] = (time.perf_counter() - t0) * 1e3
        if reason is not None:
            item.status, item.reason = "skipped", reason
            return False
        return True

    def _map_range_problem(self, pose: np.ndarray) -> str | None:
        """Why a camera at ``pose`` cannot be fused into the map (its measurements would
        fall outside the coordinates the map's voxel keys can hold), or None."""
        from real3d.mapping.hashing import AXIS_RANGE_VOXELS

        mc = self.config.map
        g = self.gravity_T_world
        t = (pose if g is None else g @ pose)[:3, 3]
        half = AXIS_RANGE_VOXELS * min(mc.voxel_size_m, mc.free_voxel_size_m)
        limit = half - mc.max_depth_m
        if np.abs(t).max() <= limit:
            return None
        return (
            f"pose outside the map's range: camera at ({t[0]:.1f}, {t[1]:.1f}, {t[2]:.1f}) m, but the map "
            f"holds coordinates within +-{half:.1f} m of its origin ({AXIS_RANGE_VOXELS} voxels of "
            f"{min(mc.voxel_size_m, mc.free_voxel_size_m):g} m), so cameras must stay within "
            f"+-{limit:.1f} m (less max_depth_m)"
        )

    def _pose_jump(self, item: _Item, f: Frame, pose: np.ndarray) -> str | None:
        """The jump check of the module docstring: why ``pose`` is an implausible jump
        from the last accepted pose, or None (then it becomes the reference). Runs in
        stream order (on the segmentation thread in ``run``)."""
        cfg = self.config
        if cfg.pose_max_speed_mps is None:
            return None
        try:
            ts = float(f.timestamp_s)
        except (TypeError, ValueError):
            ts = float("nan")  # no usable timestamp: the per-frame limit applies
        here = (pose[:3, 3].copy(), ts if np.isfinite(ts) else None, item.index)
        ref = self._pose_ref
        if ref is None:
            self._pose_ref = here
            return None
        dist, limit, how = self._jump(ref, here)
        if dist <= limit:
            self._pose_ref, self._pose_candidate = here, None
            return None
        cand = self._pose_candidate
        n = 1
        if cand is not None:
            d, lim, _ = self._jump(cand[:3], here)
            n = cand[3] + 1 if d <= lim else 1
        if n > cfg.pose_reanchor_after:
            self._pose_ref, self._pose_candidate = here, None
            self.pose_reanchors += 1
            item.reason = (
                f"pose re-anchored: {n - 1} frames before this one jumped away from frame {ref[2]} "
                f"({dist:.3g} m {how}) and agreed with each other; taken as a relocalisation"
            )
            self._note("pose", f"{item.reason} (frame {item.index}; {self.pose_reanchors} re-anchor(s) so far)")
            return None
        self._pose_candidate = (*here, n)
        return (
            f"pose jump: the camera moved {dist:.4g} m from frame {ref[2]} {how}; the limit is {limit:.3g} m "
            f"(pose_max_speed_mps, pose_max_step_m, pose_max_jump_m)"
        )

    def _jump(self, ref: tuple, here: tuple) -> tuple[float, float, str]:
        """(distance m, allowed distance m, how the allowance was found) between two
        (position, timestamp_s or None, index) records."""
        cfg = self.config
        dist = float(np.linalg.norm(here[0] - ref[0]))
        dt = here[1] - ref[1] if here[1] is not None and ref[1] is not None else 0.0
        if dt > 0:
            return dist, cfg.pose_max_speed_mps * dt + cfg.pose_max_jump_m, f"in {dt:.3g} s"
        frames = max(1, here[2] - ref[2])
        return (
            dist,
            cfg.pose_max_step_m * frames + cfg.pose_max_jump_m,
            f"over {frames} frame(s) without usable timestamps",
        )

    def _segment(self, item: _Item) -> None:
        t0 = time.perf_counter()
        try:
            self._segment_frame(item)
        except (Real3DError, RuntimeError, ValueError) as e:
            # One frame the network cannot take (odd size, a backend error) must not end
            # a robot's run: report it and go on.
            item.labels = item.segmentation = None
            item.status, item.reason = "skipped", f"segmentation failed: {e}"
        item.lat["segment"] = (time.perf_counter() - t0) * 1e3

    def _segment_frame(self, item: _Item) -> None:
        cfg = self.config
        f = item.frame
        d = f.depth_m
        depth_ok = d is not None and float(np.count_nonzero(d)) >= self.config.min_valid_depth * d.size
        no_depth = "no depth" if d is None else "depth failed (too few valid pixels)"
        if self._check_health is not None:
            item.health = self._check_health(f)
            if depth_ok and not item.health.depth_ok:
                depth_ok, no_depth = False, f"sensor health: {item.health.reason}"
        if depth_ok:
            bad = implausible_depth(d, cfg.min_median_depth_m, cfg.max_median_depth_m)
            if bad is not None:
                depth_ok, no_depth = False, bad
                self._note(
                    "depth",
                    f"frame {item.index}: {bad}; frames like it go down the RGB path "
                    f"(min_median_depth_m, max_median_depth_m)",
                )
        if self.segmenter is None:
            # No network: the map takes the frame's own labels and instances (ground
            # truth; segmentation None), else geometry only.
            if depth_ok and f.labels is not None and f.label_set != self.label_set.name:
                item.status, item.reason = (
                    "skipped",
                    f"the frame's labels are {f.label_set!r} ids, the map holds {self.label_set.name!r} ids",
                )
            elif depth_ok:
                item.labels, item.status = f.labels, "fused"
            else:
                item.status, item.reason = "skipped", f"{no_depth} and no segmentation model"
            return
        if depth_ok or not self.segmenter.uses_depth:
            seg, model = self.segmenter, "rgbd"
        elif self.rgb_segmenter is not None:
            seg, model = self.rgb_segmenter, "rgb"
        else:
            item.status, item.reason = "skipped", "no usable depth and no rgb_model configured"
            return
        item.segmentation = _predict(seg, f, cfg.seg_flip, cfg.seg_scales, cfg.seg_guided, cfg.seg_network_probs)
        item.labels = item.segmentation.labels
        item.model = model
        item.status = "fused" if depth_ok else "rgb_only"
        if not depth_ok:
            item.reason = no_depth
            if self.depth_net is not None:
                self._predict_depth(item, no_depth)

    def _predict_depth(self, item: _Item, no_depth: str) -> None:
        """Give a frame without usable depth the depth network's (segment stage); the
        fuse stage then fuses it with the predicted-depth weight and truncation."""
        cfg = self.config
        f = item.frame
        height = None
        if cfg.depth_floor_prior:
            height = cfg.camera_height_m
            g = self.gravity_T_world
            if height is None and g is not None:
                z = float((g @ item.pose)[2, 3])  # floor at z = 0 in the gravity frame
                height = z if z > 0.05 else None
        pose = None if self.gravity_T_world is None else self.gravity_T_world @ item.pose
        pred = self.depth_net.predict(f, camera_height_m=height, world_T_cam=pose)
        if not pred.valid_fraction > 0:
            item.reason = f"{no_depth}; the depth model declined every pixel"
            return
        item.predicted = pred
        item.status = "fused"
        item.reason = f"{no_depth}; predicted depth fused (scale {pred.scale:.3g}, {pred.scale_source})"

    def _gravity_pose(self, f: Frame, pose: np.ndarray, index: int) -> np.ndarray | None:
        """``pose`` in the gravity frame (``gravity_T_world``, fitted on the first frame
        with a convincing floor when ``config.gravity`` is ``"floor"``); ``pose`` itself
        when that is the identity. None while the frame is one of the first
        ``gravity_wait_frames`` without a convincing floor: it must not be fused yet (the
        frame it would be fused in is not known). After those, the source's frame is kept."""
        if self.gravity_T_world is None:
            try:
                self.gravity_T_world = _floor_pose(f) @ np.linalg.inv(pose)
                self.gravity_note = f"floor plane fitted in frame {index}"
            except Real3DError as e:
                self._gravity_tries += 1
                if self._gravity_tries <= self.config.gravity_wait_frames:
                    self._gravity_wait_reason = str(e)
                    return None
                # No floor in the first frames: keep the source's frame rather than guess.
                self.gravity_T_world = np.eye(4)
                self.gravity_note = (
                    f"no floor found in the first {self._gravity_tries} frames with depth (frame {index}: {e}); "
                    "the source's frame is kept"
                )
        if not np.array_equal(self.gravity_T_world, np.eye(4)):
            pose = self.gravity_T_world @ pose
        return pose

    def fuse(self, frame: Frame, segmentation: SegmentationResult | np.ndarray | None = None) -> None:
        """Fuse one posed RGB-D frame whose segmentation is already known, without running
        a network (ground truth, or a segmentation made elsewhere).

        ``segmentation``: anything ``SemanticMap.integrate`` takes (a SegmentationResult,
        (C, H, W) probabilities, (H, W) uint8 labels; None: ``frame.labels`` and
        ``frame.instances``, else geometry only). The pose goes through ``gravity_T_world``
        as in ``step`` and joins ``trajectory``. No periodic graph or costmap refresh, and
        no pose jump check (the caller vouches for its poses). Unlike ``step`` it raises:
        InputError for a frame without depth or pose, a pose that is not a rigid
        transform, labels of another label set than ``label_set``, or input the map refuses.
        """
        if not isinstance(frame, Frame):
            raise InputError(f"Pipeline.fuse: expected a real3d.Frame, got {type(frame).__name__}")
        if frame.world_T_cam is None:
            raise InputError("Pipeline.fuse: the frame has no pose (world_T_cam is None)")
        if segmentation is None and frame.labels is not None and frame.label_set != self.label_set.name:
            raise InputError(
                f"Pipeline.fuse: the frame's labels are {frame.label_set!r} ids, the map holds "
                f"{self.label_set.name!r} ids"
            )
        problem = pose_problem(frame.world_T_cam) or self._map_range_problem(frame.world_T_cam)
        if problem is not None:
            raise InputError(f"Pipeline.fuse: {problem}")
        pose = self._gravity_pose(frame, frame.world_T_cam, frame.index)
        if pose is None:
            raise InputError(
                f"Pipeline.fuse: gravity is not fixed yet ({self._gravity_wait_reason}); "
                "give a frame that shows the floor first, or use gravity='off'"
            )
        if pose is not frame.world_T_cam:
            frame = frame.replace(world_T_cam=pose)
        self.map.integrate(frame, segmentation)
        self._record_position(pose[:3, 3])
        self.frames_fused += 1

    def _fuse(self, item: _Item, defer: bool = False) -> None:
        """Map fusion and the amortised graph / costmap refresh (fuse thread only);
        ``defer``: another frame is waiting, postpone a due refresh if allowed."""
        cfg = self.config
        if cfg.background_refresh and cfg.mode == "realtime" and self._pending and self._pending[1].done():
            self._finish_refresh()  # realtime: results go in as soon as they are done
        if item.labels is not None:
            n = len(self.class_pixels)
            self.class_pixels += np.bincount(item.labels.ravel(), minlength=n)[:n]
        if item.status != "fused":
            return
        t0 = time.perf_counter()
        f = item.frame
        pose = self._gravity_pose(f, item.pose, item.index)
        if pose is None:
            item.segmentation = item.predicted = None
            item.status, item.reason = "rgb_only", f"waiting for a floor to fix gravity ({self._gravity_wait_reason})"
            return
        predicted = item.predicted
        if predicted is not None or (pose is not f.world_T_cam and item.segmentation is not None):
            # The fused frame: predicted depth where the model gave it, the gravity pose, and
            # none of the frame's own labels (the network's segmentation is fused).
            f = Frame(
                rgb=f.rgb,
                depth_m=f.depth_m if predicted is None else predicted.depth_m,
                intrinsics=f.intrinsics,
                world_T_cam=pose,
                timestamp_s=f.timestamp_s,
                index=f.index,
            )
        elif pose is not f.world_T_cam:  # no network: the frame's own labels and instances go along
            f = f.replace(world_T_cam=pose)
        try:
            if predicted is None:
                self.map.integrate(f, item.segmentation)
            else:
                self.map.integrate(
                    f,
                    item.segmentation,
                    weight=cfg.predicted_depth_weight,
                    truncation_m=cfg.map.truncation_m * cfg.predicted_truncation_scale,
                )
        except Real3DError as e:
            item.status, item.reason = "rgb_only", f"fusion failed: {e}"
            return
        finally:
            item.segmentation = None  # the fuse queue holds frames; drop the biggest array early
        self._record_position(pose[:3, 3])
        self.frames_fused += 1
        item.lat["fuse"] = (time.perf_counter() - t0) * 1e3
        due = self._due_refreshes(self.frames_fused, defer and not cfg.background_refresh)
        if cfg.background_refresh:
            self._background_refresh(item, due)
            return
        n = self.frames_fused
        if "refine" in due:
            item.lat["refine"] = self._refine_map()
            self._refine_at = n
        if "graph" in due:
            t0 = time.perf_counter()
            self._work_graph.update(self.map)
            item.lat["graph"] = (time.perf_counter() - t0) * 1e3
            self._record_refresh("graph", item.lat["graph"])
            self._graph_at = self.refreshed_at["graph"] = n
        if "costmap" in due:
            item.lat["costmap"] = self._refresh_costmap()
            self._costmap_at = n

    def _due_refreshes(self, n: int, defer: bool) -> tuple[str, ...]:
        """The refreshes (of ``REFRESH_KINDS``) due after ``n`` fused frames. ``defer``:
        another frame is waiting for fusion; a due refresh may then wait, but never past
        three periods (realtime mode without background refreshes, where a 30-100 ms
        refresh would back the queue up into drops). Offline each runs exactly every N
        frames (deterministic ids)."""
        cfg = self.config
        due = []
        for kind, every, at in (
            ("refine", cfg.refine_every if self.map_refiner is not None else 0, self._refine_at),
            ("graph", cfg.graph_every, self._graph_at),
            ("costmap", cfg.costmap_every, self._costmap_at),
        ):
            if every and n - at >= every and (not defer or n - at >= 3 * every):
                due.append(kind)
        return tuple(due)

    # ------------------------------------------------------------------ background refresh
    def _background_refresh(self, item: _Item, due: tuple[str, ...]) -> None:
        """Publish the job in flight when its time has come, and submit the refreshes
        ``due`` now over a snapshot of the map (see ``real3d.pipeline.refresh``)."""
        cfg = self.config
        n = self.frames_fused
        t0 = time.perf_counter()
        touched = False
        if self._pending is not None:
            job, fut = self._pending
            on_time = cfg.mode == "offline" and job.publish_at is not None and n >= job.publish_at
            if due or on_time or fut.done():
                if not fut.done():
                    self.refresh_waits += 1
                self._finish_refresh()
                touched = True
        if due:
            self._submit_refresh(due)
            touched = True
        if touched:
            item.lat["refresh"] = (time.perf_counter() - t0) * 1e3

    def _submit_refresh(self, kinds: tuple[str, ...]) -> None:
        cfg = self.config
        n = self.frames_fused
        t0 = time.perf_counter()
        snap = snapshot_map(self.map)
        snapshot_ms = (time.perf_counter() - t0) * 1e3
        periods = [p for p in (cfg.graph_every, cfg.costmap_every) if p]
        if self.map_refiner is not None:
            periods.append(cfg.refine_every)
        job = RefreshJob(
            frame=n,
            map=snap,
            map_version=self.map.version,
            kinds=kinds,
            center_xy=self.trajectory[-1][:2].copy() if self.trajectory else None,
            publish_at=n + max(1, min(periods) // 2) if cfg.mode == "offline" else None,
            snapshot_ms=snapshot_ms,
        )
        self._record_refresh("snapshot", snapshot_ms)
        for kind in kinds:
            setattr(self, f"_{kind}_at", n)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="real3d-refresh")
        fut = self._executor.submit(run_refresh, job, self._work_graph, self.map_refiner, self._costmap_builder)
        self._pending = (job, fut)

    def _finish_refresh(self, publish: bool = True) -> None:
        """Wait for the background job in flight (if any) and put its results in place
        (``publish``) or drop them. A job that failed is noted, not raised."""
        pending, self._pending = getattr(self, "_pending", None), None
        if pending is None:
            return
        job, fut = pending
        try:
            res = fut.result()
        except Exception as e:  # the worker's error, reported where the run's events are
            self.refresh_errors += 1
            self._note(
                "refresh",
                f"the background refresh ({', '.join(job.kinds)}) of frame {job.frame} failed: "
                f"{type(e).__name__}: {e}; the previous results stay in use",
            )
            return
        if not publish:
            return
        if res.refinement is not None:
            self.map.set_refinement(res.refinement)
        if res.graph is not None:
            self._graph = res.graph
            self.refreshed_at["graph"] = job.frame
        if res.costmap is not None:
            self._costmap = res.costmap
            self._costmap_version = job.map_version
            self.refreshed_at["costmap"] = job.frame
            self._note_cropped(res.costmap)
        for kind, ms in res.latency_ms.items():
            self._record_refresh(kind, ms)

    def _record_refresh(self, kind: str, ms: float) -> None:
        self.refresh_ms[kind].append(ms)
        if self._refresh_sink is not None:
            self._refresh_sink[kind].append(ms)

    def _result(self, item: _Item, t_done: float) -> StepResult:
        f = item.frame
        lat = {k: float(v) for k, v in item.lat.items()}
        lat["total"] = (t_done - item.t_in) * 1e3
        return StepResult(
            index=item.index,
            timestamp_s=float(getattr(f, "timestamp_s", 0.0) or 0.0) if isinstance(f, Frame) else 0.0,
            status=item.status,
            reason=item.reason,
            labels=item.labels,
            latency_ms=lat,
            model=item.model,
            map_voxels=len(self.map),
            map_bytes=self.map.nbytes,
            n_objects=len(self._graph.objects()),
            depth_source=("predicted" if item.predicted is not None else "sensor") if item.status == "fused" else "",
            health=item.health,
        )

    def _emit(self, res: StepResult, frame, summary, lat, on_result) -> None:
        """``StreamRunner._emit`` plus the predicted-depth and sensor-health counts."""
        if res.depth_source == "predicted":
            summary.predicted_depth += 1
        count_health(summary.health, res)
        super()._emit(res, frame, summary, lat, on_result)

    def step(self, frame: Frame) -> StepResult:
        """Run one frame through every stage (synchronously). Never raises for a bad frame
        (anything that is not a valid ``Frame`` included): the result's ``status`` and
        ``reason`` say what happened."""
        t_in = time.perf_counter()
        index = frame.index if isinstance(frame, Frame) else -1
        item = _Item(index, frame, t_in)
        if self._check(item):
            self._segment(item)
            self._fuse(item)
        return self._result(item, time.perf_counter())
