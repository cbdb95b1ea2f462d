import numpy as np
import pytest

from real3d.core.errors import InputError
from real3d.eval.breakdown import DistanceBreakdown


def test_accuracy_per_distance_bin_and_class():
    gt = np.array([[1, 1, 2, 0], [2, 2, 1, 1]], np.uint8)
    pred = np.array([[1, 2, 2, 1], [2, 1, 1, 2]], np.uint8)
    depth = np.array([[0.5, 0.5, 1.5, 0.5], [3.0, 3.0, 0.0, 20.0]], np.float32)
    b = DistanceBreakdown(num_classes=2, edges_m=(0.0, 1.0, 2.0, 4.0))
    b.update(pred, gt, depth)
    r = b.result()
    assert r["bins"] == ["< 1 m", "1-2 m", ">= 2 m", "no depth"]
    # < 1 m: (1 right, 1 wrong) of class 1 (the void pixel is left out)
    assert r["pixels"] == [2, 1, 3, 1]
    assert r["accuracy"] == [0.5, 1.0, pytest.approx(1 / 3), 1.0]
    assert r["class_accuracy"]["< 1 m"] == [0.5, None]
    assert r["class_accuracy"][">= 2 m"] == [0.0, 0.5]  # 20 m is clipped into the last bin
    assert r["class_pixels"][">= 2 m"] == [1, 2]
    b.update(pred, gt, None)  # no depth at all: every labelled pixel in the last bin
    assert b.result()["pixels"][-1] == 1 + 7


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.update(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8)),
        lambda b: b.update(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8)),
        lambda b: b.update(np.full((2, 2), 9, np.uint8), np.ones((2, 2), np.uint8)),
        lambda b: b.update(np.ones((2, 2), np.uint8), np.ones((2, 2), np.uint8), np.full((2, 2), np.nan)),
    ],
)
def test_bad_frames_raise_input_error(call):
    with pytest.raises(InputError):
        call(DistanceBreakdown(num_classes=2))


def test_bad_settings_raise_input_error():
    for kw in ({"edges_m": (1.0,)}, {"edges_m": (0.0, 2.0, 1.0)}, {"num_classes": 0}, {"num_classes": True}):
        with pytest.raises(InputError):
            DistanceBreakdown(**kw)
