"""Navigation: costmap from the semantic map, grid planners, a map-and-plan navigator."""

from real3d.nav.costmap import (
    FOOTPRINT_PAD_M,
    LETHAL,
    Costmap,
    CostmapConfig,
    build_costmap,
    clear_footprint,
    costmap_from_grid,
)
from real3d.nav.gravity import PlaneFit, floor_alignment, ransac_plane
from real3d.nav.planner import (
    PLANNERS,
    Path,
    astar,
    plan_on_costmap,
    plan_path,
    route_skimage,
    shortcut,
)

plan = plan_on_costmap

__all__ = [
    "Costmap",
    "CostmapConfig",
    "build_costmap",
    "costmap_from_grid",
    "clear_footprint",
    "LETHAL",
    "FOOTPRINT_PAD_M",
    "Path",
    "plan",
    "plan_on_costmap",
    "plan_path",
    "astar",
    "route_skimage",
    "shortcut",
    "PLANNERS",
    "RobotNavigator",
    "PlaneFit",
    "ransac_plane",
    "floor_alignment",
]


def __getattr__(name: str):
    # The seed's ``real3d.nav.RobotNavigator``: the navigator wraps a Pipeline, so it lives in
    # ``real3d.pipeline``, above this stage; it is imported only when asked for.
    if name == "RobotNavigator":
        from real3d.pipeline.navigator import RobotNavigator

        return RobotNavigator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
