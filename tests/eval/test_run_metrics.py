from types import SimpleNamespace

import numpy as np

from real3d.eval.recorder import RunRecorder
from real3d.eval.run_metrics import ground_truth_metrics


def test_2d_scores_without_a_scene():
    rec = RunRecorder()
    rec.confusion = np.zeros((14, 14), np.int64)
    rec.confusion[5, 5] = 3
    rec.confusion[5, 12] = 1
    pipeline = SimpleNamespace(map=[])
    out = ground_truth_metrics(pipeline, rec, scene=None)
    assert set(out) == {"seg2d", "map3d", "objects", "nav"}
    assert out["map3d"] is out["objects"] is out["nav"] is None
    assert out["seg2d"]["pixel_acc"] == 75.0


def test_nothing_to_score():
    out = ground_truth_metrics(SimpleNamespace(map=[]), RunRecorder(), scene=None)
    assert out == {"seg2d": None, "map3d": None, "objects": None, "nav": None}
