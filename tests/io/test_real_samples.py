from pathlib import Path

import pytest

from real3d.core import Intrinsics
from real3d.io.real_samples import SAMPLE_OPTIONS, real_samples_dir, sample_options

REPO = Path(__file__).resolve().parents[2]


def test_options_are_copies_and_unknown_samples_need_none():
    opts = sample_options("joinmap_kinect_seq")
    assert opts["intrinsics"] == Intrinsics(518.0, 519.0, 325.5, 253.5, 640, 480)
    opts["x"] = 1
    assert "x" not in SAMPLE_OPTIONS["joinmap_kinect_seq"]
    assert sample_options("no_such_sample") == {}
    assert real_samples_dir("/a/b/repo") == Path("/a/b/shared/data/real")


@pytest.mark.parametrize("name", sorted(SAMPLE_OPTIONS))
def test_each_sample_opens_with_its_options(name):
    from real3d.io import open_sequence

    path = real_samples_dir(REPO) / name
    if not path.is_dir():
        pytest.skip(f"shared sample {name} not present")
    with open_sequence(path, max_frames=1, **sample_options(name)) as seq:
        f = next(iter(seq))
    assert f.depth_m.shape == f.rgb.shape[:2] and f.depth_m.max() > 0
