"""Scores of a pipeline run against synthetic ground truth: 2D segmentation (from the
``RunRecorder``'s confusion matrix), the 3D semantic map, the scene graph's objects and
navigation on the final costmap."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from real3d.core.labels import NYU13

if TYPE_CHECKING:
    from real3d.eval.recorder import RunRecorder


def ground_truth_metrics(pipeline, recorder: RunRecorder, scene, nav_pairs: int = 20) -> dict:
    """Scores against synthetic ground truth (``SceneGT``); keys ``seg2d``, ``map3d``,
    ``objects``, ``objects_in_scene``, ``nav`` (each None when it cannot be computed).

    ``objects`` scores the scene graph against the objects the run's fused frames saw
    (``RunRecorder.seen_instances``: at least ``MIN_SEEN_PIXELS`` pixels with a depth
    reading), the objects a map of those frames can know about; its ``scored_against`` says
    ``"seen"`` (or ``"all"`` when the frames carried no instance images). ``objects_in_scene``
    scores the same graph against every object of the scene, seen or not: its recall is
    how much of the scene the run found, exploration included."""
    from real3d.eval.metrics import metrics_from_confusion

    # the pipeline's label set (NYUv2-13 unless its model predicts another); the ground
    # truth must be in it (real3d.eval.ground_truth)
    label_set = getattr(pipeline, "label_set", NYU13)
    out = {"seg2d": None, "map3d": None, "objects": None, "objects_in_scene": None, "nav": None}
    if recorder.confusion is not None:
        m = metrics_from_confusion(recorder.confusion)
        out["seg2d"] = m.to_dict(label_set.names)
    if scene is None or not len(pipeline.map):
        return out
    from real3d.mapping.evaluate import evaluate_map
    from real3d.nav.evaluate import evaluate_navigation
    from real3d.scene.evaluate import MIN_SEEN_PIXELS, evaluate_graph

    ref = np.concatenate(recorder.surface_points).astype(np.float64) if recorder.surface_points else None
    mm = evaluate_map(pipeline.map, scene.mesh, reference_points=ref, num_classes=len(label_set.names))
    d = mm.to_dict()
    d["miou"] = 100 * d["miou"]
    d["iou_per_class"] = {label_set.names[int(k)]: round(100 * v, 2) for k, v in mm.iou_per_class.items()}
    out["map3d"] = d
    seen = recorder.seen_instances()
    everything = evaluate_graph(pipeline.scene_graph, scene)
    g = everything if seen is None else evaluate_graph(pipeline.scene_graph, scene, instance_ids=seen)
    out["objects"] = {
        **g.to_dict(),
        "scored_against": "all" if seen is None else "seen",
        "min_seen_pixels": MIN_SEEN_PIXELS,
    }
    out["objects_in_scene"] = everything.to_dict()
    cm = pipeline.costmap
    if cm is not None:
        out["nav"] = evaluate_navigation(cm, scene.occupancy, n_pairs=nav_pairs, mesh=scene.mesh).to_dict()
    return out
