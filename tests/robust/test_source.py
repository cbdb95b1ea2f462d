import numpy as np
import pytest
from robust_frames import make_scene_frame

from real3d.core.errors import ConfigError, InputError
from real3d.robust import CorruptedSource, HealthConfig, corrupt, parse_corruption_spec


def frames(n=3):
    return [make_scene_frame(48, 64, index=i) for i in range(n)]


def test_parse_spec():
    assert parse_corruption_spec("jpeg:3, depth_missing:5") == (("jpeg", 3), ("depth_missing", 5))
    with pytest.raises(ConfigError, match="valid"):
        parse_corruption_spec("nope:2")
    with pytest.raises(ConfigError):
        parse_corruption_spec("")
    for bad in ("jpeg:6", "jpeg:1.5", "jpeg:-1"):
        with pytest.raises(InputError):
            parse_corruption_spec(bad)


def test_indexed_source_is_deterministic_per_frame_index():
    src = CorruptedSource(frames(), [("gaussian_noise", 3), ("depth_noise", 2)], seed=4)
    assert len(src) == 3
    a, b = src[1], src[1]
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth_m, b.depth_m)
    # the same as corrupting by hand, in order
    f = frames()[1]
    want = corrupt(corrupt(f, "gaussian_noise", 3, 4), "depth_noise", 2, 4)
    assert np.array_equal(a.rgb, want.rgb) and np.array_equal(a.depth_m, want.depth_m)
    # another index draws other noise (the frames' content is identical)
    assert not np.array_equal(src[0].rgb, a.rgb)
    assert [f.index for f in src] == [0, 1, 2]


def test_iterable_source_and_depth_corruption_skips_frames_without_depth():
    fs = frames(2)
    fs[1] = fs[1].replace(depth_m=None, depth_clean_m=None)
    src = CorruptedSource(iter(fs), [("depth_holes_dark", 5)])
    assert not hasattr(src, "__len__")
    out = list(src)
    assert out[1].depth_m is None and out[0].meta["corruption"]["name"] == "depth_holes_dark"


def test_health_switches_frames_without_usable_depth_to_rgb_only():
    src = CorruptedSource(frames(), [("depth_missing", 5)], health=HealthConfig())
    out = [src[i] for i in range(3)]
    assert all(f.depth_m is None and "valid depth" in f.meta["health"] for f in out)
    s = src.summary()
    assert s["checked"] == 3 and s["flagged"] == 3 and s["depth_switched"] == 3
    assert s["by_fault"] == {"depth": 3, "exposure": 0, "blur": 0, "noise": 0}
    assert [r["index"] for r in src.summary(max_listed=2)["frames"]] == [0, 1]
    keep = CorruptedSource(frames(), [("depth_missing", 5)], health=HealthConfig(), switch_bad_depth=False)
    assert keep[0].depth_m is not None and keep.summary()["depth_switched"] == 0


def test_health_without_corruption_passes_clean_frames():
    src = CorruptedSource(frames(), health=HealthConfig())
    assert all(f.depth_m is not None and "health" not in f.meta for f in src)
    assert src.summary()["flagged"] == 0


def test_bad_arguments():
    with pytest.raises(ConfigError):
        CorruptedSource(frames(), [("nope", 1)])
    with pytest.raises(InputError):
        CorruptedSource(frames(), [("jpeg", 7)])
    with pytest.raises(InputError):
        CorruptedSource(frames(), seed=-1)
    with pytest.raises(InputError):
        CorruptedSource(frames(), health={"min_valid_depth": 0.5})
    with pytest.raises(InputError, match="Frames"):
        CorruptedSource([np.zeros(3)], [("jpeg", 1)])[0]
