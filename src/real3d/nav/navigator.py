"""Map-and-plan loop: fuse each RGB-D frame, refresh the costmap, plan to a goal."""

from __future__ import annotations

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.errors import InputError
from real3d.core.frame import Frame
from real3d.mapping.semantic_map import SemanticMap, SemanticMapConfig
from real3d.nav.costmap import Costmap, CostmapConfig, build_costmap, clear_footprint
from real3d.nav.planner import Path, plan_on_costmap


class RobotNavigator:
    """Keeps a ``SemanticMap`` and a costmap and plans paths on them.

    Args:
        map_config: configuration of the semantic map.
        costmap_config: robot radius, height band, inflation.
        replan_every: rebuild the costmap every this many frames (amortises its cost; a
            goal change or a blocked cached path replans at once).
        method: planner backend ("skimage" or "astar").
        segmenter: optional callable (rgb (H, W, 3) uint8, depth_m (H, W) float32) ->
            (H, W, C) float32 probabilities or (H, W) uint8 labels; None fuses geometry only.
        goal_tolerance_m: a goal on a blocked cell is replaced by the nearest passable cell
            within this distance (see ``plan_on_costmap``); 0 fails instead.
        object_layer: keep a ``SceneGraph`` of the map, updated with each costmap rebuild,
            and add its object boxes to the costmap (``CostmapConfig.object_cost``): whole
            objects where the camera measured only parts (a lamp shade above its view).
            Costs a graph update (tens of milliseconds on a room-sized map) per rebuild.
    """

    def __init__(self, map_config: SemanticMapConfig | None = None,
                 costmap_config: CostmapConfig = CostmapConfig(), replan_every: int = 5,
                 method: str = "skimage", segmenter=None, goal_tolerance_m: float = 0.0,
                 object_layer: bool = False) -> None:
        self.map = SemanticMap(map_config)
        self.costmap_config = costmap_config
        self.replan_every = max(1, int(replan_every))
        self.method = method
        self.segmenter = segmenter
        self.goal_tolerance_m = float(goal_tolerance_m)
        self.scene_graph = None
        if object_layer:
            from real3d.scene import SceneGraph

            self.scene_graph = SceneGraph()
        self.costmap: Costmap | None = None
        self.path: Path | None = None
        self.trajectory: list[np.ndarray] = []
        self.floor_z_m = 0.0
        self._goal = None
        self._frames = 0
        # Set by align_to_floor for sequences whose world frame is not gravity-aligned.
        self.gravity_T_world: np.ndarray | None = None

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
        """Fuse a frame (``probs`` as in ``SemanticMap.integrate``) and record the pose."""
        if probs is None and self.segmenter is not None:
            probs = self.segmenter(frame.rgb, frame.depth_m)
        if self.gravity_T_world is not None and frame.world_T_cam is not None:
            frame = frame.replace(world_T_cam=self.gravity_T_world @ frame.world_T_cam)
        self.map.integrate(frame, probs)
        self.trajectory.append(frame.world_T_cam[:3, 3].copy())
        self._frames += 1

    def refresh_costmap(self) -> Costmap:
        objects = None
        if self.scene_graph is not None and len(self.map):
            self.scene_graph.update(self.map)
            objects = self.scene_graph.objects()
        self.costmap = build_costmap(self.map, self.costmap_config, self.floor_z_m, objects=objects)
        return self.costmap

    def plan(self, start_xy, goal_xy) -> Path:
        """Plan on the current costmap (built if missing); the robot's own footprint
        around ``start_xy`` counts as free. Raises NoPathError."""
        if self.costmap is None:
            self.refresh_costmap()
        clear_footprint(self.costmap, start_xy, self.costmap_config.robot_radius_m + 0.1)
        self.path = plan_on_costmap(self.costmap, start_xy, goal_xy, method=self.method,
                                    goal_tolerance_m=self.goal_tolerance_m)
        return self.path

    def navigate(self, rgb: np.ndarray, depth_m: np.ndarray, intrinsics: Intrinsics,
                 world_T_cam: np.ndarray, goal_xy, probs=None) -> Path:
        """Fuse one observation and return a path from the camera's floor position to
        ``goal_xy`` (world metres, z up).

        Args:
            rgb: (H, W, 3) uint8. depth_m: (H, W) float32 metres, 0 = invalid.
            intrinsics: camera of both images. world_T_cam: (4, 4) camera -> world.
            goal_xy: (2,) world metres.

        Raises:
            InputError: invalid images or pose. NoPathError: no path to the goal.
        """
        if world_T_cam is None:
            raise InputError("RobotNavigator.navigate: world_T_cam is required")
        frame = Frame(rgb=rgb, depth_m=depth_m, intrinsics=intrinsics, world_T_cam=world_T_cam,
                      index=self._frames)
        self.update(frame, probs)
        goal = tuple(np.asarray(goal_xy, float).reshape(2))
        start = self.trajectory[-1][:2]
        if (self.costmap is None or self._frames % self.replan_every == 0 or goal != self._goal
                or self.path is None):
            self.refresh_costmap()
            self._goal = goal
            return self.plan(start, goal)
        # Between refreshes: keep the cached path, starting from the nearest waypoint ahead.
        wp = self.path.waypoints
        k = int(np.argmin(np.linalg.norm(wp - start, axis=1)))
        rest = np.concatenate([start[None], wp[k + 1:]]) if k + 1 < len(wp) else np.stack([start, wp[-1]])
        length = float(np.linalg.norm(np.diff(rest, axis=0), axis=1).sum())
        self.path = Path(rest, length, self.path.cost, self.path.cells)
        return self.path
