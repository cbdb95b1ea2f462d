import numpy as np
import pytest
from PIL import Image

from real3d.core.errors import InputError
from real3d.eval import confusion_matrix, confusion_png, evaluate_segmentation, metrics_from_confusion, overlay_png


def test_confusion_and_metrics_by_hand():
    # 3 classes; gt void pixels (0) are ignored; a predicted void is a miss
    gt = np.array([[1, 1, 2, 2], [3, 3, 0, 0]], np.uint8)
    pred = np.array([[1, 2, 2, 2], [3, 0, 1, 3]], np.uint8)
    c = confusion_matrix(pred, gt, num_classes=3)
    want = np.zeros((4, 4), np.int64)
    want[1, 1] = 1
    want[1, 2] = 1
    want[2, 2] = 2
    want[3, 3] = 1
    want[3, 0] = 1
    assert np.array_equal(c, want)
    m = metrics_from_confusion(c)
    # class 1: tp 1, gt 2, pred 1 -> 1/2; class 2: tp 2, gt 2, pred 3 -> 2/3; class 3: tp 1, gt 2, pred 1 -> 1/2
    assert np.allclose(m.iou, [1 / 2, 2 / 3, 1 / 2])
    assert m.miou == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)
    assert m.pixel_acc == pytest.approx(4 / 6)
    assert m.mean_acc == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    d = m.to_dict(("void", "a", "b", "c"))
    assert d["iou"] == {"a": 50.0, "b": 66.67, "c": 50.0}


def test_absent_classes_do_not_count():
    gt = np.array([1, 1, 2], np.uint8)
    m = metrics_from_confusion(confusion_matrix(gt, gt, num_classes=13))
    assert m.miou == 1.0 and np.isnan(m.iou[5]) and m.pixel_acc == 1.0


def test_bad_inputs():
    with pytest.raises(InputError):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(InputError):
        confusion_matrix(np.full((2, 2), 14), np.zeros((2, 2)))
    with pytest.raises(InputError):
        metrics_from_confusion(np.zeros((3, 4)))


def test_pictures(tmp_path):
    c = np.random.default_rng(0).integers(0, 50, (14, 14))
    p = confusion_png(c, tmp_path / "c.png")
    assert Image.open(p).size[0] > 14 * 20
    rgb = np.zeros((8, 10, 3), np.uint8)
    lab = np.ones((8, 10), np.uint8)
    o = np.array(Image.open(overlay_png(rgb, lab, lab, tmp_path / "o.png")))
    assert o.shape == (8, 30, 3)


class _Oracle:
    """A 'model' that answers the ground truth of the frame it is given, except class 4 -> 10."""

    def predict(self, frame, head="refined"):
        from types import SimpleNamespace

        lab = frame.labels.copy()
        lab[lab == 0] = 12
        lab[lab == 4] = 10
        return SimpleNamespace(labels=lab)


def test_evaluate_runner_writes_outputs(tmp_path):
    from real3d.train import ToySegData

    data = ToySegData(3, (32, 48))
    m = evaluate_segmentation(_Oracle(), data, out_dir=tmp_path, n_overlays=2)
    # item 0 has a chair (4) box, predicted as table: chair IoU 0, the rest perfect
    assert m.iou[3] == 0.0 and m.iou[4] == 1.0 and m.iou[11] == 1.0
    assert (tmp_path / "confusion.png").is_file() and (tmp_path / "overlay_01.png").is_file()
    assert not (tmp_path / "overlay_02.png").exists() and (tmp_path / "metrics.json").is_file()


def _conf(tp_a, fp_a_as_b, tp_b):
    """2-class confusion: class 1 (a) and class 2 (b)."""
    c = np.zeros((3, 3), np.int64)
    c[1, 1], c[1, 2], c[2, 2] = tp_a, fp_a_as_b, tp_b
    return c


def test_bootstrap_miou_spread():
    from real3d.eval import bootstrap_miou

    # identical scenes: every resample gives the same mIoU
    same = np.stack([_conf(8, 2, 10)] * 5)
    std, lo, hi = bootstrap_miou(same, n_boot=200)
    assert std == pytest.approx(0.0, abs=1e-12) and lo == pytest.approx(hi)
    assert lo == pytest.approx(metrics_from_confusion(same.sum(0)).miou)
    # one perfect and one poor scene: a real spread, bounded by the two extremes
    mixed = np.stack([_conf(10, 0, 10), _conf(2, 8, 10)])
    std, lo, hi = bootstrap_miou(mixed, n_boot=500, seed=1)
    worst = metrics_from_confusion(_conf(2, 8, 10)).miou
    assert std > 0.05 and worst - 1e-12 <= lo < hi <= 1.0 + 1e-12
    assert bootstrap_miou(mixed, n_boot=500, seed=1) == (std, lo, hi)  # seeded
    with pytest.raises(InputError):
        bootstrap_miou(mixed[:1])
    with pytest.raises(InputError):
        bootstrap_miou(np.zeros((3, 3)))


def test_evaluate_runner_groups_views_by_scene():
    from real3d.train import ToySegData

    data = ToySegData(4, (32, 48))
    m = evaluate_segmentation(_Oracle(), data, views_per_scene=2)
    assert m.miou_spread is not None and len(m.miou_spread) == 3
    assert "miou_scene_bootstrap" in m.to_dict()
    assert evaluate_segmentation(_Oracle(), data).miou_spread is None  # not grouped
    assert evaluate_segmentation(_Oracle(), data, views_per_scene=4).miou_spread is None  # one scene
    with pytest.raises(InputError):
        evaluate_segmentation(_Oracle(), data, views_per_scene=0)


def test_evaluate_runner_rejects_an_empty_evaluation():
    from real3d.train import ToySegData

    with pytest.raises(InputError, match="no samples"):
        evaluate_segmentation(_Oracle(), ToySegData(2, (32, 48)), max_samples=0)


def test_bootstrap_paired_difference():
    from real3d.eval import bootstrap_miou, bootstrap_miou_draws

    a = np.stack([_conf(10, 0, 10), _conf(2, 8, 10), _conf(6, 4, 10)])
    b = np.stack([_conf(9, 1, 10), _conf(3, 7, 10), _conf(5, 5, 10)])
    # a model against itself: every paired draw is exactly 0
    assert np.all(bootstrap_miou_draws(a, reference=a, n_boot=50) == 0.0)
    # the paired draws are the differences of the unpaired ones over the same resamples
    d = bootstrap_miou_draws(b, reference=a, n_boot=50, seed=3)
    np.testing.assert_allclose(
        d, bootstrap_miou_draws(b, n_boot=50, seed=3) - bootstrap_miou_draws(a, n_boot=50, seed=3)
    )
    std, lo, hi = bootstrap_miou(b, n_boot=50, seed=3, reference=a)
    assert std == pytest.approx(np.std(d)) and lo <= hi
    with pytest.raises(InputError):
        bootstrap_miou_draws(b, reference=a[:2])


def test_evaluate_runner_passes_flip_to_the_model():
    from types import SimpleNamespace

    from real3d.train import ToySegData

    class _FlipOnlyRight:
        def predict(self, frame, head="refined", flip=False):
            lab = frame.labels.copy() if flip else np.full_like(frame.labels, 12)
            lab[lab == 0] = 12
            return SimpleNamespace(labels=lab)

    data = ToySegData(2, (32, 48))
    assert evaluate_segmentation(_FlipOnlyRight(), data, flip=True).miou == 1.0
    assert evaluate_segmentation(_FlipOnlyRight(), data).miou < 0.5


def test_evaluate_runner_passes_scales_to_the_model():
    from types import SimpleNamespace

    from real3d.train import ToySegData

    seen = []

    class _Model:
        def predict(self, frame, head="refined", **tta):
            seen.append(tta)
            return SimpleNamespace(labels=np.where(frame.labels == 0, 12, frame.labels))

    data = ToySegData(2, (32, 48))
    evaluate_segmentation(_Model(), data)
    evaluate_segmentation(_Model(), data, flip=True, scales=(1.0, 1.2))
    assert seen == [{}, {}, {"flip": True, "scales": (1.0, 1.2)}, {"flip": True, "scales": (1.0, 1.2)}]
    seen.clear()
    evaluate_segmentation(_Model(), data, guided=False)
    assert seen == [{"guided": False}, {"guided": False}]


def test_compare_labellings_pairs_the_same_views():
    from real3d.eval import compare_labellings
    from real3d.train import ToySegData

    data = ToySegData(6, (32, 48))

    def right(f):
        return f.labels.copy()

    def wrong_on_odd_frames(f):
        lab = f.labels.copy()
        if f.index % 2:
            lab[lab > 0] = 12
        return lab

    same = compare_labellings(right, right, data, views_per_scene=2, n_boot=50)
    assert same.views == 6 and same.scenes == 3
    assert same.a.miou == same.b.miou == 1.0 and np.all(same.draws == 0.0)
    worse = compare_labellings(right, wrong_on_odd_frames, data, views_per_scene=2, n_boot=50)
    assert worse.b.miou < worse.a.miou and np.all(worse.draws < 0)
    assert "B - A -" in worse.summary() and "per-class IoU" in worse.summary()
    # whole scenes only: 5 views of 2 per scene -> 4 views
    assert compare_labellings(right, right, data, views_per_scene=2, max_samples=5, n_boot=10).views == 4
    with pytest.raises(InputError, match="two whole scenes"):
        compare_labellings(right, right, data, views_per_scene=4)
    with pytest.raises(InputError, match="views_per_scene"):
        compare_labellings(right, right, data, views_per_scene=0)


class _Confident:
    """Labels as _Oracle with probabilities: ``conf`` on the answered class, the rest spread evenly."""

    def __init__(self, conf):
        self.conf = conf

    def predict(self, frame, head="refined"):
        from types import SimpleNamespace

        lab = _Oracle().predict(frame).labels
        probs = np.full((14, *lab.shape), (1 - self.conf) / 12, np.float32)
        probs[0] = 0
        np.put_along_axis(probs, lab[None].astype(np.int64), self.conf, axis=0)
        return SimpleNamespace(labels=lab, probs=probs)


def test_evaluation_reports_the_calibration_of_the_probabilities(tmp_path):
    import json

    from real3d.train import ToySegData

    data = ToySegData(3, (32, 48))
    acc = evaluate_segmentation(_Oracle(), data).pixel_acc
    assert evaluate_segmentation(_Oracle(), data).calibration is None  # no probabilities: nothing to say
    for conf in (1.0, 0.6):
        m = evaluate_segmentation(_Confident(conf), data, out_dir=tmp_path)
        # every pixel at one confidence: ECE = |accuracy - confidence|
        assert m.calibration["confidence"] == pytest.approx(conf, abs=1e-6)
        assert m.calibration["accuracy"] == pytest.approx(acc, abs=1e-9)
        assert m.calibration["ece"] == pytest.approx(abs(acc - conf), abs=1e-6)
        written = json.loads((tmp_path / "metrics.json").read_text())["calibration"]
        assert written["ece"] == pytest.approx(100 * abs(acc - conf), abs=0.01)
