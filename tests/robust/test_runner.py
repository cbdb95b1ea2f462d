import numpy as np
import pytest
from robust_frames import make_scene_frame

from real3d.core.errors import ConfigError, InputError
from real3d.core.segmentation import SegmentationResult
from real3d.robust import evaluate_robustness
from real3d.robust.runner import robustness_report


class BoxFinder:
    """A stand-in model: class 7 where the depth is nearer than 2 m, class 1 elsewhere.
    Its prediction follows depth only, so colour corruptions cannot change it."""

    def predict(self, frame, head="refined"):
        labels = np.where((frame.depth_m > 0) & (frame.depth_m < 2.0), 7, 1).astype(np.uint8)
        probs = np.zeros((14, *labels.shape), np.float32)
        np.put_along_axis(probs, labels[None].astype(np.int64), 1.0, axis=0)
        return SegmentationResult(labels=labels, probs=probs, head=head)


def frames(labelled=True):
    return [make_scene_frame(48, 64, index=i, labelled=labelled) for i in range(2)]


def test_scores_follow_what_the_corruption_does():
    t = evaluate_robustness(BoxFinder(), frames(), "jpeg,depth_missing,roll", (3, 5), model_name="box")
    assert t.metric == "miou" and t.frames == 2 and t.model == "box"
    assert t.clean == pytest.approx(1.0)  # the box is exactly the near depth
    assert t.scores["jpeg"] == pytest.approx({3: 1.0, 5: 1.0})
    # no depth: everything is called class 1; IoU 1 of class 1 is (all - box) / all, class 7 gets 0
    box = (make_scene_frame(48, 64).labels == 7).sum()
    labelled = (make_scene_frame(48, 64).labels > 0).sum()
    assert t.scores["depth_missing"][5] == pytest.approx(0.5 * (labelled - box) / labelled)
    assert t.resilience()["jpeg"] == pytest.approx(1.0)
    # the labels move with the image: a rolled frame is still segmented right
    assert t.scores["roll"][5] > 0.95


def test_unlabelled_frames_are_scored_by_agreement():
    t = evaluate_robustness(BoxFinder(), frames(labelled=False), ["depth_missing", "roll"], [5])
    assert t.metric == "agreement" and t.clean == pytest.approx(1.0)
    assert t.scores["depth_missing"][5] < 0.6 and t.scores["roll"][5] > 0.95


def test_report_tables():
    model = BoxFinder()
    a = evaluate_robustness(model, frames(), "depth_missing", (3, 5), model_name="a")
    report, md = robustness_report([a], a)
    assert report["models"][0]["mce"] == pytest.approx(1.0)
    assert "| depth_missing |" in md and "| a |" in md


def test_bad_arguments_raise():
    model = BoxFinder()
    with pytest.raises(ConfigError, match="valid"):
        evaluate_robustness(model, frames(), "fog", (3,))
    with pytest.raises(InputError, match="1..5"):
        evaluate_robustness(model, frames(), "jpeg", (0, 3))
    with pytest.raises(InputError, match="severities"):
        evaluate_robustness(model, frames(), "jpeg", ())
    with pytest.raises(InputError, match="no frames"):
        evaluate_robustness(model, [], "jpeg", (3,))
    mixed = [make_scene_frame(48, 64, labelled=True), make_scene_frame(48, 64, index=1, labelled=False)]
    with pytest.raises(InputError, match="labels"):
        evaluate_robustness(model, mixed, "jpeg", (3,))
