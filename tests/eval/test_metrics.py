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
