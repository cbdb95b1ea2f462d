"""3D scene graph: object instances, structure, rooms and relations from a semantic map."""

from real3d.scene.boxes import Box3D, box_iou_3d, fit_box, min_area_rect
from real3d.scene.evaluate import DetectionScore, GraphMetrics, evaluate_graph, match_objects
from real3d.scene.graph import (
    SCENE_GRAPH_SCHEMA_VERSION,
    Edge,
    SceneGraph,
    SceneGraphConfig,
    SceneNode,
)

__all__ = [
    "Box3D",
    "box_iou_3d",
    "fit_box",
    "min_area_rect",
    "SceneGraph",
    "SceneGraphConfig",
    "SceneNode",
    "Edge",
    "SCENE_GRAPH_SCHEMA_VERSION",
    "evaluate_graph",
    "match_objects",
    "GraphMetrics",
    "DetectionScore",
]
