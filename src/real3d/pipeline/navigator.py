"""Map-and-plan loop for a robot: fuse each RGB-D frame, refresh the costmap every few
frames, plan to a goal.

``RobotNavigator`` is a thin layer over ``real3d.Pipeline``, which owns the map, the
trajectory, the gravity frame, the scene graph and the costmap building; the navigator adds
the robot's loop (``navigate``: replan every ``replan_every`` frames, follow the cached path
in between) and keeps the costmap of its last refresh. It lives with the pipeline it wraps;
``real3d.nav.RobotNavigator`` (the seed's name) is a lazy alias of it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from real3d.core.camera import Intrinsics
from real3d.core.errors import InputError, NoPathError
from real3d.core.frame import Frame
from real3d.mapping.semantic_map import SemanticMap, SemanticMapConfig
from real3d.nav.costmap import Costmap, CostmapConfig
from real3d.nav.planner import Path, plan_path
from real3d.pipeline.config import PipelineConfig
from real3d.pipeline.runner import Pipeline


class RobotNavigator:
    """Keeps a semantic map and a costmap (through a ``Pipeline``) and plans paths on them.

    Args:
        map_config: configuration of the semantic map (None: ``SemanticMapConfig()``).
        costmap_config: robot radius, height band, inflation.
        replan_every: rebuild the costmap every this many frames (amortises its cost; a
            goal change or a blocked cached path replans at once).
        method: planner backend ("skimage" or "astar").
        segmenter: None fuses the class input given to ``update`` / ``navigate`` (or the
            frame's own labels; geometry only without either); a ``real3d.models.Segmenter``
            segments each frame given without one; a plain callable (rgb (H, W, 3) uint8,
            depth_m (H, W) float32) -> probabilities or (H, W) uint8 labels, in any layout
            ``SemanticMap.integrate`` takes, does the same.
        goal_tolerance_m: a goal on a blocked cell is replaced by the nearest passable cell
            within this distance (see ``plan_on_costmap``); 0 fails instead.
        object_layer: keep a ``SceneGraph`` of the map, updated with each costmap rebuild,
            and add its object boxes to the costmap (``CostmapConfig.object_cost``): whole
            objects where the camera measured only parts (a lamp shade above its view).
            Costs a graph update (tens of milliseconds on a room-sized map) per rebuild.

    Attributes:
        pipeline: the ``Pipeline`` that holds the map, trajectory and scene graph.
        costmap: the costmap of the last ``refresh_costmap`` (None before the first).
        path: the last planned path.
        floor_z_m: floor height the costmap's height band starts from (0: the gravity
            frame's floor).
    """

    def __init__(
        self,
        map_config: SemanticMapConfig | None = None,
        costmap_config: CostmapConfig = CostmapConfig(),
        replan_every: int = 5,
        method: str = "skimage",
        segmenter=None,
        goal_tolerance_m: float = 0.0,
        object_layer: bool = False,
    ) -> None:
        from real3d.models.contract import Segmenter

        is_model = isinstance(segmenter, Segmenter)
        if segmenter is not None and not is_model and not callable(segmenter):
            raise InputError(
                f"RobotNavigator: segmenter must be a real3d.models.Segmenter or a callable, "
                f"got {type(segmenter).__name__}"
            )
        self.pipeline = Pipeline(
            PipelineConfig(
                model=None,
                rgb_model=None,
                threads=None,
                map=map_config or SemanticMapConfig(),
                costmap=costmap_config,
                graph_every=0,
                costmap_every=0,
                background_refresh=False,
                plan_method=method,
                goal_tolerance_m=float(goal_tolerance_m),
            ),
            segmenter=segmenter if is_model else None,
        )
        self.costmap_config = costmap_config
        self.replan_every = max(1, int(replan_every))
        self.method = method
        self.segmenter = segmenter
        self._segment: Callable[[Frame], object] | None = None
        if is_model:
            self._segment = segmenter.predict
        elif segmenter is not None:
            self._segment = lambda f: segmenter(f.rgb, f.depth_m)
        self.goal_tolerance_m = float(goal_tolerance_m)
        self.object_layer = bool(object_layer)
        self.costmap: Costmap | None = None
        self.path: Path | None = None
        self.floor_z_m = 0.0
        self._aligned = False
        self._goal = None
        self._frames = 0

    # ------------------------------------------------------------------ state on the pipeline
    @property
    def map(self) -> SemanticMap:
        return self.pipeline.map

    @property
    def trajectory(self) -> list[np.ndarray]:
        """(3,) camera positions of the fused frames, in the gravity frame."""
        return self.pipeline.trajectory

    @property
    def scene_graph(self):
        """The ``SceneGraph`` of the object layer (None without ``object_layer``)."""
        return self.pipeline.scene_graph if self.object_layer else None

    @property
    def gravity_T_world(self) -> np.ndarray | None:
        """(4, 4) set by ``align_to_floor``; None before (poses are used as given)."""
        return self.pipeline.gravity_T_world if self._aligned else None

    @gravity_T_world.setter
    def gravity_T_world(self, value: np.ndarray | None) -> None:
        self._aligned = value is not None
        self.pipeline.gravity_T_world = np.eye(4) if value is None else np.asarray(value, np.float64)

    # ------------------------------------------------------------------ loop
    def align_to_floor(self, frames, up_hint=None, stride: int = 4) -> np.ndarray:
        """Estimate gravity from the floor seen in ``frames`` (RANSAC plane fit) and use it
        for every later frame: poses are mapped by ``gravity_T_world`` so the map has z up
        and the floor at z = 0. Goals and starts are then given in the gravity frame.

        Args:
            frames: a few posed frames that see the floor.
            up_hint: rough world up direction; default the image-up direction (-y) of the
                first camera, right for a camera held roughly level.

        Returns:
            world_T_gravity (4, 4).
        """
        from real3d.geometry.projection import depth_to_world_points
        from real3d.nav.gravity import floor_alignment

        pts = []
        for f in frames:
            if f.depth_m is None or f.world_T_cam is None:
                raise InputError("RobotNavigator.align_to_floor: frames need depth and a pose")
            sub = np.zeros_like(f.depth_m)
            sub[::stride, ::stride] = f.depth_m[::stride, ::stride]
            pts.append(depth_to_world_points(sub, f.intrinsics, f.world_T_cam)[0])
        if up_hint is None:
            up_hint = -frames[0].world_T_cam[:3, 1]
        world_T_gravity, self.gravity_T_world = floor_alignment(np.concatenate(pts), up_hint=up_hint)
        return world_T_gravity

    def update(self, frame: Frame, probs=None) -> None:
        """Fuse a frame (``probs`` as in ``SemanticMap.integrate``; None: the segmenter's
        answer when there is one) and record the pose (``Pipeline.fuse``)."""
        if probs is None and self._segment is not None:
            probs = self._segment(frame)
        self.pipeline.fuse(frame, probs)
        self._frames += 1

    def refresh_costmap(self) -> Costmap:
        """Rebuild the costmap from the current map (and, with ``object_layer``, the scene
        graph first) over a floor at ``floor_z_m``."""
        if self.object_layer and len(self.map):
            self.pipeline.scene_graph  # noqa: B018 -- refreshes the graph whose objects the costmap takes
        self.costmap = self.pipeline.refresh_costmap(floor_z_m=self.floor_z_m)
        return self.costmap

    def plan(self, goal_xy: ArrayLike, start_xy: ArrayLike | None = None) -> Path:
        """Plan on the current costmap (built if missing) from ``start_xy`` (default: the
        last camera position) to ``goal_xy``, world metres; the robot's own footprint around
        the start counts as free (the costmap itself is left as it is). Raises NoPathError."""
        if self.costmap is None:
            self.refresh_costmap()
        if start_xy is None:
            if not self.trajectory:
                raise NoPathError("RobotNavigator.plan: no camera position yet; pass start_xy")
            start_xy = self.trajectory[-1][:2]
        self.path = plan_path(
            self.costmap, goal_xy, start_xy, method=self.method, goal_tolerance_m=self.goal_tolerance_m
        )
        return self.path

    def navigate(
        self,
        rgb: np.ndarray,
        depth_m: np.ndarray,
        intrinsics: Intrinsics,
        world_T_cam: np.ndarray,
        goal_xy: ArrayLike,
        probs=None,
    ) -> Path:
        """Fuse one observation and return a path from the camera's floor position to
        ``goal_xy`` (world metres, z up).

        Args:
            rgb: (H, W, 3) uint8. depth_m: (H, W) float32 metres, 0 = invalid.
            intrinsics: camera of both images. world_T_cam: (4, 4) camera -> world.
            goal_xy: (2,) world metres.
            probs: the frame's segmentation, as ``update`` takes it.

        Raises:
            InputError: invalid images or pose. NoPathError: no path to the goal.
        """
        if world_T_cam is None:
            raise InputError("RobotNavigator.navigate: world_T_cam is required")
        frame = Frame(rgb=rgb, depth_m=depth_m, intrinsics=intrinsics, world_T_cam=world_T_cam, index=self._frames)
        self.update(frame, probs)
        goal = tuple(np.asarray(goal_xy, float).reshape(2))
        start = self.trajectory[-1][:2]
        if self.costmap is None or self._frames % self.replan_every == 0 or goal != self._goal or self.path is None:
            self.refresh_costmap()
            self._goal = goal
            return self.plan(goal, start)
        # Between refreshes: keep the cached path, starting from the nearest waypoint ahead.
        wp = self.path.waypoints
        k = int(np.argmin(np.linalg.norm(wp - start, axis=1)))
        rest = np.concatenate([start[None], wp[k + 1 :]]) if k + 1 < len(wp) else np.stack([start, wp[-1]])
        length = float(np.linalg.norm(np.diff(rest, axis=0), axis=1).sum())
        self.path = Path(rest, length, self.path.cost, self.path.cells)
        return self.path
