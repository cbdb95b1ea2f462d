"""A run in the rerun viewer: live (spawn a viewer or connect to one) and saved (``recording.rrd``).

rerun-sdk is an optional extra (``pip install 'real3d[viz]'``). ``ViewerOptions`` says
where the recording goes: ``"save"`` (``recording.rrd`` in the run's output folder),
``"spawn"`` (start a viewer on this machine and stream to it), ``"connect"`` (stream to a
viewer or rerun gRPC server at a URL) or ``"none"``. Spawn and connect also save
``recording.rrd``. The arrays come from ``real3d.viz.scene_entities`` (no rerun there);
this module only hands them to rerun. Entity paths, frames and units: docs/viewer.md.

A viewer that is closed, or stops answering, in the middle of a run does not stop it:
rerun drops what it cannot send, the file keeps everything, and the run reports it once.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from real3d.core.errors import ConfigError
from real3d.core.labels import NYU13, LabelSet
from real3d.viz import scene_entities as se

#: where the recording goes (``ViewerOptions.mode``)
VIEWER_MODES = ("save", "spawn", "connect", "none")
#: the port a spawned viewer listens on (rerun's default)
SPAWN_PORT = 9876
#: where ``"connect"`` streams to without a URL: a viewer on this machine
DEFAULT_VIEWER_URL = f"rerun+http://127.0.0.1:{SPAWN_PORT}/proxy"
#: seconds between checks that a live viewer still answers
VIEWER_CHECK_S = 2.0
#: the periodic map log may cost the run this many milliseconds per frame on average;
#: when one costs more, the period doubles (``RerunLogger.map_every``)
MAP_LOG_BUDGET_MS = 2.0
#: the series of the latency plot: the pipeline's stages (``real3d.pipeline.config.STAGES``,
#: which viz may not import) and the whole frame
LATENCY_SERIES = ("check", "segment", "fuse", "refine", "graph", "costmap", "refresh", "total")
INSTALL_HINT = "pip install 'real3d[viz]'"

# entity paths (docs/viewer.md)
WORLD = "world"
CAMERA = "world/camera"
IMAGE = "world/camera/image"
TRAJECTORY = "world/trajectory"
MAP = "world/map"
OBJECTS = "world/scene_graph/objects"
STRUCTURES = "world/scene_graph/structures"
RELATIONS = "world/scene_graph/relations"
COSTMAP_3D = "world/costmap"
PATH = "world/path"
GOAL = "world/path/goal"
COSTMAP_2D = "costmap"
LATENCY = "stats/latency_ms"


def rerun_available() -> bool:
    return importlib.util.find_spec("rerun") is not None


@dataclass(frozen=True)
class ViewerOptions:
    """Where and how often a run is logged to rerun.

    Attributes:
        mode: one of ``VIEWER_MODES``.
        url: the viewer's gRPC URL for ``"connect"`` (``rerun+http://HOST:PORT/proxy``;
            default ``DEFAULT_VIEWER_URL``); must be None for the other modes.
        image_every: log the colour, depth and label images (and the trajectory) of every
            N-th frame that has labels; the camera pose goes in for every frame.
        map_every: log the map's labelled surface points after every N-th fused frame
            (and at the end); doubled during the run whenever a log costs more than
            ``MAP_LOG_BUDGET_MS`` per frame of the period.
        map_max_points: at most this many map points per periodic log (thinned evenly);
            the final map goes in whole.
        requested: the user named the mode: a missing rerun-sdk is then an error
            (``check``), not a note.

    Raises:
        ConfigError: an unknown mode (the valid ones are listed), a URL without
            ``"connect"`` or one that is not a rerun gRPC URL, a period below 1.
    """

    mode: str = "save"
    url: str | None = None
    image_every: int = 5
    map_every: int = 30
    map_max_points: int = 200_000
    requested: bool = False

    def __post_init__(self) -> None:
        if self.mode not in VIEWER_MODES:
            raise ConfigError(f"--viewer: expected one of {' | '.join(VIEWER_MODES)}, got {self.mode!r}")
        if self.url is not None:
            if self.mode != "connect":
                raise ConfigError(f"--viewer-url is for --viewer connect, got it with --viewer {self.mode}")
            parse_viewer_url(self.url)
        for name in ("image_every", "map_every", "map_max_points"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"ViewerOptions.{name}: expected an integer >= 1, got {v!r}")

    @property
    def live_url(self) -> str | None:
        """The gRPC URL the run streams to (None for ``"save"`` and ``"none"``)."""
        if self.mode == "connect":
            return self.url or DEFAULT_VIEWER_URL
        if self.mode == "spawn":
            return f"rerun+http://127.0.0.1:{SPAWN_PORT}/proxy"
        return None

    def check(self) -> bool:
        """Whether the run can log to rerun as asked: False when nothing is to be logged
        (``"none"``, or the default ``"save"`` without rerun-sdk).

        Raises:
            ConfigError: the user asked for a viewer mode and rerun-sdk is not installed.
        """
        if self.mode == "none":
            return False
        if rerun_available():
            return True
        if self.requested:
            raise ConfigError(
                f"--viewer {self.mode} needs rerun-sdk, which is not installed: {INSTALL_HINT} (or --viewer none)"
            )
        return False


def parse_viewer_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of a rerun gRPC URL (``rerun+http://HOST:PORT/proxy``,
    ``rerun://``, ``rerun+https://``; the port defaults to 9876 for http, 443 for https).
    Raises ConfigError for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("rerun", "rerun+http", "rerun+https") or not parts.hostname:
        raise ConfigError(f"--viewer-url: expected a rerun gRPC URL such as {DEFAULT_VIEWER_URL}, got {url!r}")
    if port is None:
        port = 443 if parts.scheme == "rerun+https" else SPAWN_PORT
    return parts.hostname, int(port)


def viewer_answers(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """Whether something accepts TCP connections at ``host:port`` (a viewer's gRPC port)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def recording_rows(path) -> dict[str, int]:
    """Rows per entity path of a saved recording (``recording.rrd``), static rows under
    ``"static:" + path``: what a run logged, e.g. ``{"/world/map": 11, ...}``. Needs a
    rerun-sdk that reads recordings back (``rerun.chunk.RrdReader``)."""
    from rerun.chunk import RrdReader

    rows: dict[str, int] = {}
    for chunk in RrdReader(str(path)).stream():
        key = ("static:" if chunk.is_static else "") + chunk.entity_path
        rows[key] = rows.get(key, 0) + chunk.num_rows
    return rows


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class RerunLogger:
    """Logs a pipeline run to rerun (see the module docstring; entity paths in docs/viewer.md).

    Call ``log_frame`` from ``Pipeline.run``'s ``on_result`` (it reads the pipeline's state
    on that thread), then ``finish`` after the outputs are written, or ``abort``.

    Args:
        path: where ``recording.rrd`` goes (written as a hidden temporary beside it and
            renamed into place by ``finish``); None: stream live only.
        options: ``ViewerOptions``.
        report: called with a one-line message for what the user should know (a viewer
            that does not answer); default: printed on stderr.
        label_set: the ``LabelSet`` of the run's ids (``Pipeline.label_set``): the names
            and colours of the class ids in the annotation context.
    """

    def __init__(
        self, path, options: ViewerOptions = ViewerOptions(), report=None, label_set: LabelSet = NYU13
    ) -> None:
        import rerun as rr

        self.rr = rr
        self.options = options
        self.report = report or _stderr
        self.label_set = label_set
        self.path = None if path is None else Path(path)
        self.tmp = None if self.path is None else self.path.with_name(f".{self.path.name}.tmp")
        self._url = url = options.live_url
        self._host_port = None if url is None else parse_viewer_url(url)
        self._next_check = 0.0
        self._viewer_reported = False
        if options.mode == "spawn":
            # Starts a viewer (or finds one already on the port) and waits until it listens;
            # one that cannot start (no display) is found out just below.
            # (rerun spawns through an enabled recording; with connect=False nothing is sent.)
            try:
                rr.RecordingStream("real3d-spawn").spawn(port=SPAWN_PORT, connect=False)
            except Exception as e:  # no viewer, but the recording is still saved
                self.report(f"rerun: could not start a viewer ({type(e).__name__}: {e}); the run goes on")
                self._viewer_reported = True  # said once; not again below
        sinks = []
        # Stream only to a viewer that is there: rerun would otherwise keep trying to reach
        # it and hold the end of the run for seconds.
        if url is not None and self.check_viewer(force=True, timeout_s=1.0):
            sinks.append(rr.GrpcSink(url))
        if self.tmp is not None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            sinks.append(rr.FileSink(str(self.tmp)))
        # Without a sink (no file, no viewer) every call below does nothing.
        self.rec = rr.RecordingStream("real3d", default_enabled=bool(sinks))
        if sinks:
            self.rec.set_sinks(*sinks)
        self._labelled = 0  # frames with labels seen (image_every counts these)
        self._fused = 0
        self._map_logged_at = 0
        #: fused frames between map logs now (``options.map_every``, doubled when too dear)
        self.map_every = options.map_every
        self._refreshed: dict = {}
        self._pinhole = None
        self._time_kind: str | None = None
        self._last_index = 0
        ann = rr.AnnotationContext(se.annotation_classes(label_set))
        self.rec.log("/", ann, static=True)
        self.rec.log(WORLD, rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        if hasattr(rr, "SeriesLines"):
            self.rec.log(LATENCY, rr.SeriesLines(names=list(LATENCY_SERIES)), static=True)

    @classmethod
    def create(cls, path, options: ViewerOptions = ViewerOptions(), report=None, label_set: LabelSet = NYU13):
        """A logger for ``options``, or None when nothing is to be logged (``"none"``, or
        the default ``"save"`` without rerun-sdk). ConfigError: a requested mode without
        rerun-sdk (``ViewerOptions.check``)."""
        if not options.check():
            return None
        return cls(path, options, report, label_set)

    # ------------------------------------------------------------------ live viewer
    def check_viewer(self, force: bool = False, timeout_s: float = 0.2) -> bool | None:
        """Whether the live viewer answers (None without one, or once it was found gone);
        checked at most every ``VIEWER_CHECK_S`` seconds unless ``force``. The first time it
        does not answer, says so once through ``report``; logging goes on either way."""
        if self._host_port is None or self._viewer_reported:
            return None
        now = time.monotonic()
        if not force and now < self._next_check:
            return True
        self._next_check = now + VIEWER_CHECK_S
        if viewer_answers(*self._host_port, timeout_s=timeout_s):
            return True
        self._viewer_reported = True
        where = "the spawned viewer" if self.options.mode == "spawn" else "the viewer"
        saved = ", recording into recording.rrd" if self.tmp is not None else ""
        self.report(
            f"rerun: {where} at {self._url} does not answer (closed, not started, or no display); "
            f"the run goes on{saved}"
        )
        return False

    # ------------------------------------------------------------------ logging
    def _set_time(self, result, frame) -> None:
        rec = self.rec
        rec.set_time("frame", sequence=int(result.index))
        ts = float(getattr(frame, "timestamp_s", 0.0) or 0.0) if frame is not None else float(result.timestamp_s)
        if np.isfinite(ts) and ts != 0.0:
            if self._time_kind is None:
                # Seconds since 1973 or later read as a wall clock (ROS bags), else as a
                # duration from the recording's start (TUM-style relative times).
                self._time_kind = "timestamp" if ts > 1e8 else "duration"
            rec.set_time("time", **{self._time_kind: ts})
        else:
            rec.disable_timeline("time")

    def log_frame(self, result, frame, pipeline) -> None:
        """What one frame brings: its pose (map frame), every ``image_every``-th labelled
        frame's images and the trajectory, the graph and costmap when the pipeline
        refreshed them, the map every ``map_every`` fused frames."""
        rr, rec, opt = self.rr, self.rec, self.options
        self._last_index = int(result.index)
        self._set_time(result, frame)
        self.check_viewer()
        # One row per frame (each log call costs the run's thread about a tenth of a
        # millisecond or more); a stage that did not run is a gap in its line.
        lat = result.latency_ms
        rec.log(LATENCY, rr.Scalars([float(lat.get(k, np.nan)) for k in LATENCY_SERIES]))
        if frame is None:
            return
        pose = se.camera_pose(pipeline.gravity_T_world, frame.world_T_cam)
        if pose is not None and result.status in ("fused", "rgb_only"):
            rec.log(CAMERA, rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]))
        if result.labels is not None:
            self._labelled += 1
            if (self._labelled - 1) % opt.image_every == 0:
                self._log_images(result, frame)
                traj = se.trajectory_strip(pipeline.trajectory, max_points=2000)
                if len(traj) > 1:
                    rec.log(TRAJECTORY, rr.LineStrips3D([traj], colors=[(255, 140, 0)]))
        if result.status == "fused":
            self._fused += 1
        refreshed = dict(pipeline.refreshed_at)
        if refreshed != self._refreshed:
            graph, costmap = se.products_in_use(pipeline)
            # refreshed_at is -1 until the first periodic refresh
            if refreshed.get("graph", -1) >= 0 and refreshed.get("graph") != self._refreshed.get("graph"):
                self._log_graph(graph)
            if costmap is not None and refreshed.get("costmap") != self._refreshed.get("costmap"):
                self._log_costmap(costmap)
            self._refreshed = refreshed
        if self._fused - self._map_logged_at >= self.map_every:
            t0 = time.perf_counter()
            self._log_map(pipeline.map, opt.map_max_points, snap=False)
            if (time.perf_counter() - t0) * 1e3 > MAP_LOG_BUDGET_MS * self.map_every:
                self.map_every *= 2
            self._map_logged_at = self._fused

    def _log_images(self, result, frame) -> None:
        rr, rec = self.rr, self.rec
        K = frame.intrinsics
        pinhole = (K.fx, K.fy, K.cx, K.cy, K.width, K.height)
        if pinhole != self._pinhole:
            # rerun puts pixel centres at +0.5 (the top-left corner of the image is 0, 0);
            # real3d at integer coordinates: the principal point moves by half a pixel.
            rec.log(
                IMAGE,
                rr.Pinhole(
                    focal_length=[K.fx, K.fy],
                    principal_point=[K.cx + 0.5, K.cy + 0.5],
                    width=K.width,
                    height=K.height,
                    camera_xyz=rr.ViewCoordinates.RDF,
                    image_plane_distance=0.3,
                ),
                static=True,
            )
            self._pinhole = pinhole
        rec.log(f"{IMAGE}/rgb", rr.Image(frame.rgb).compress(jpeg_quality=85))
        if frame.depth_m is not None:
            depth_mm = np.round(np.clip(frame.depth_m, 0.0, 65.535) * 1000.0).astype(np.uint16)
            rec.log(f"{IMAGE}/depth", rr.DepthImage(depth_mm, meter=1000.0))
        rec.log(f"{IMAGE}/labels", rr.SegmentationImage(result.labels))

    def _log_map(self, semantic_map, max_points: int | None, snap: bool = True) -> None:
        if not len(semantic_map):
            return
        mp = se.map_points(semantic_map, max_points, snap=snap, label_set=self.label_set)
        # Class ids alone: the annotation context gives colours and names.
        self.rec.log(MAP, self.rr.Points3D(mp.points, class_ids=mp.class_ids, radii=mp.radius_m))

    def _log_graph(self, graph) -> None:
        rr, rec = self.rr, self.rec
        for entity, kind in ((OBJECTS, "object"), (STRUCTURES, "structure")):
            b = se.box_entities(graph, kind)
            rec.log(
                entity,
                rr.Boxes3D(
                    centers=b.centers,
                    half_sizes=b.half_sizes,
                    quaternions=b.quaternions_xyzw,
                    class_ids=b.class_ids,
                    labels=b.labels,
                    show_labels=kind == "object",
                ),
            )
        rel = se.relation_segments(graph)
        rec.log(RELATIONS, rr.LineStrips3D(rel.segments, colors=rel.colors, labels=rel.predicates))

    def _log_costmap(self, costmap) -> se.CostmapImage:
        rr, rec = self.rr, self.rec
        img = se.costmap_image(costmap)
        verts, tris, uv = img.quad()
        rec.log(COSTMAP_2D, rr.Image(img.rgb))
        rec.log(
            COSTMAP_3D,
            rr.Mesh3D(vertex_positions=verts, triangle_indices=tris, vertex_texcoords=uv, albedo_texture=img.rgb),
        )
        return img

    def _log_path(self, path_info: dict | None, floor_z_m: float) -> None:
        rr, rec = self.rr, self.rec
        waypoints = (path_info or {}).get("waypoints") or []
        strip = se.path_strip(waypoints, floor_z_m + 0.02)
        rec.log(PATH, rr.LineStrips3D([strip] if len(strip) > 1 else [], colors=[(0, 170, 0)], radii=0.02))
        goal = (path_info or {}).get("goal_xy")
        if goal is not None:
            rec.log(GOAL, rr.Points3D([[goal[0], goal[1], floor_z_m + 0.02]], colors=[(0, 170, 0)], radii=0.06))

    # ------------------------------------------------------------------ end
    def finish(self, pipeline, path_info: dict | None = None) -> Path | None:
        """Log the final map (every labelled point), scene graph, costmap and path (a
        ``path.json`` dict) at the last frame, close the recording and move
        ``recording.rrd`` into place; returns its path (None when streaming only)."""
        self.rec.set_time("frame", sequence=self._last_index)
        self._log_map(pipeline.map, None)
        self._log_graph(pipeline.scene_graph)
        costmap = pipeline.costmap
        floor_z = 0.0
        if costmap is not None:
            floor_z = self._log_costmap(costmap).floor_z_m
        self._log_path(path_info, floor_z)
        self._close()
        if self.tmp is None:
            return None
        os.replace(self.tmp, self.path)
        return self.path

    def _close(self) -> None:
        try:
            self.rec.flush()
        except RuntimeError:
            # rerun raises when the live viewer went away; the file sink is flushed anyway
            # by the disconnect below.
            if self._url is None:
                raise
            self.check_viewer(force=True)
        self.rec.disconnect()

    def abort(self) -> None:
        """Close the recording and delete the unfinished file (nothing is raised)."""
        try:
            self._close()
        except Exception:
            pass
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
