import numpy as np
import pytest

from real3d.core import Frame, InputError, Intrinsics, sanitize_depth

K = Intrinsics(50.0, 50.0, 15.5, 11.5, 32, 24)


def _rgb(h=24, w=32):
    return np.zeros((h, w, 3), np.uint8)


def test_valid_frame():
    f = Frame(
        _rgb(),
        np.ones((24, 32), np.float32),
        K,
        np.eye(4),
        1.5,
        labels=np.zeros((24, 32), np.uint8),
        instances=np.zeros((24, 32), np.int32),
    )
    assert f.has_depth and f.has_pose and f.size_hw == (24, 32)
    assert f.world_T_cam.dtype == np.float64


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(rgb=np.zeros((24, 32, 3), np.float32)), "dtype uint8"),
        (dict(rgb=np.zeros((24, 32), np.uint8)), "shape"),
        (dict(depth_m=np.ones((24, 31), np.float32)), "size 24x32"),
        (dict(depth_m=np.ones((24, 32), np.float64)), "float32"),
        (dict(depth_m=np.full((24, 32), np.nan, np.float32)), "NaN"),
        (dict(depth_m=-np.ones((24, 32), np.float32)), "negative"),
        (dict(intrinsics=Intrinsics(50.0, 50.0, 15.5, 11.5, 64, 48)), "intrinsics are for"),
        (dict(world_T_cam=np.eye(3)), "4, 4"),
        (dict(world_T_cam=np.diag([1, 1, -1, 1.0])), "proper rotation"),
        (dict(labels=np.zeros((24, 32), np.int64)), "uint8"),
    ],
)
def test_bad_frames_raise(kw, msg):
    args = dict(rgb=_rgb(), depth_m=np.ones((24, 32), np.float32), intrinsics=K, world_T_cam=None)
    args.update(kw)
    with pytest.raises(InputError, match=msg):
        Frame(**args)


def test_sanitize_depth_counts():
    d = np.array([[1.0, np.nan], [-2.0, np.inf]], np.float32)
    out, n = sanitize_depth(d)
    assert n == 3 and out.tolist() == [[1.0, 0.0], [0.0, 0.0]]
