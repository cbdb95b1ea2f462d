import numpy as np
import pytest

from real3d.core import InputError, Intrinsics


def test_K_and_fov():
    k = Intrinsics(500.0, 510.0, 319.5, 239.5, 640, 480)
    assert np.allclose(k.K, [[500, 0, 319.5], [0, 510, 239.5], [0, 0, 1]])
    assert np.isclose(k.hfov_rad, 2 * np.arctan(320 / 500))


def test_resize_keeps_pixel_centre_convention():
    k = Intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
    h = k.resized(320, 240)
    # the image centre stays the image centre after halving
    assert h.cx == pytest.approx(159.5) and h.cy == pytest.approx(119.5)
    assert h.fx == pytest.approx(250.0)
    # a 3D point projects to the same relative position
    x, _y, z = 0.3, -0.2, 2.0
    u = k.fx * x / z + k.cx
    u2 = h.fx * x / z + h.cx
    assert (u + 0.5) / 640 == pytest.approx((u2 + 0.5) / 320)


def test_crop():
    k = Intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
    c = k.cropped(100, 50, 200, 100)
    assert (c.cx, c.cy, c.width, c.height) == (219.5, 189.5, 200, 100)
    with pytest.raises(InputError):
        k.cropped(500, 0, 200, 100)


@pytest.mark.parametrize(
    "args",
    [
        (0, 500, 1, 1, 10, 10),
        (500, -1, 1, 1, 10, 10),
        (500, 500, np.nan, 1, 10, 10),
        (500, 500, 1, 1, 0, 10),
        (500, 500, 1, 1, 10.5, 10),
    ],
)
def test_bad_intrinsics_raise(args):
    with pytest.raises(InputError):
        Intrinsics(*args)


def test_dict_round_trip():
    k = Intrinsics(1.0, 2.0, 3.0, 4.0, 5, 6)
    assert Intrinsics.from_dict(k.to_dict()) == k
    with pytest.raises(InputError, match="missing key"):
        Intrinsics.from_dict({"fx": 1})
