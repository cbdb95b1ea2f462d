import numpy as np
import pytest

from real3d.core.errors import InputError
from real3d.core.segmentation import SegmentationResult


def _result(p13):
    p = np.concatenate([np.zeros((1,) + p13.shape[1:], np.float32), p13.astype(np.float32)])
    return SegmentationResult(labels=(p[1:].argmax(0) + 1).astype(np.uint8), probs=p)


def test_entropy_is_zero_for_a_sure_pixel_and_one_for_an_even_one():
    p = np.zeros((13, 1, 3), np.float32)
    p[4, 0, 0] = 1.0  # sure
    p[:, 0, 1] = 1.0 / 13  # even
    p[[2, 7], 0, 2] = 0.5  # two classes tied: log 2 / log 13
    r = _result(p)
    h = r.entropy
    assert h.dtype == np.float32 and h.shape == (1, 3)
    assert h[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert h[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert h[0, 2] == pytest.approx(np.log(2) / np.log(13), rel=1e-5)
    assert np.allclose(r.confidence[0], [1.0, 1 / 13, 0.5])


def test_bad_probabilities_are_refused():
    with pytest.raises(InputError):
        SegmentationResult(labels=np.zeros((2, 2), np.uint8), probs=np.zeros((14, 2, 2), np.float64))
