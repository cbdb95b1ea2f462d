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
    assert set(out) == {"seg2d", "map3d", "objects", "objects_in_scene", "nav"}
    assert out["map3d"] is out["objects"] is out["objects_in_scene"] is out["nav"] is None
    assert out["seg2d"]["pixel_acc"] == 75.0


def test_nothing_to_score():
    out = ground_truth_metrics(SimpleNamespace(map=[]), RunRecorder(), scene=None)
    assert out == {"seg2d": None, "map3d": None, "objects": None, "objects_in_scene": None, "nav": None}


def test_object_f1_text_names_what_it_is_scored_against():
    from real3d.cli.run_cmd import object_f1_text

    det = {"f1": 0.758, "true_positives": 11, "n_ground_truth": 16}
    gt = {
        "objects": {"detection": {"0.25": det}, "scored_against": "seen"},
        "objects_in_scene": {"detection": {"0.25": {"true_positives": 11, "n_ground_truth": 45}}},
    }
    assert object_f1_text(gt) == "0.76 (11 of 16 objects seen; 11 of 45 in the scene)"
    assert object_f1_text({"objects": {"detection": {"0.25": det}, "scored_against": "all"}}) == "0.76"
