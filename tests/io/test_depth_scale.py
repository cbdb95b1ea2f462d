"""ReadOptions.depth_scale_m: metres per stored depth unit, replacing the reader's assumption."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from real3d.core import ConfigError, Intrinsics
from real3d.io import open_sequence
from real3d.io.base import ReadOptions

K = Intrinsics(20.0, 20.0, 7.5, 5.5, 16, 12)


def _pairs(root, raw: np.ndarray, n: int = 2):
    root.mkdir()
    for k in range(n):
        Image.fromarray(np.full((12, 16, 3), 80, np.uint8)).save(root / f"{k}.png")
        Image.fromarray(raw).save(root / f"{k}_depth.png")
    return root


@pytest.mark.parametrize("bad", [0.0, -0.001, float("nan"), float("inf"), 1000.0, True, "0.001"])
def test_depth_scale_out_of_range_is_refused(bad):
    with pytest.raises(ConfigError, match="depth_scale_m"):
        ReadOptions(depth_scale_m=bad)


def test_units_per_metre_get_a_hint():
    with pytest.raises(ConfigError, match=r"1/1000 = 0\.001"):
        ReadOptions(depth_scale_m=1000)


@pytest.mark.parametrize("encoding,assumed", [("mm", 1e-3), ("tum", 2e-4)])
def test_depth_scale_replaces_the_assumed_unit(tmp_path, encoding, assumed):
    raw = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 50 + 1000
    raw[0, 0] = 0
    root = _pairs(tmp_path / "p", raw)
    with open_sequence(root, intrinsics=K, depth_encoding=encoding) as seq:
        assert seq.assumed_depth_unit_m() == pytest.approx(assumed)
        np.testing.assert_allclose(seq[0].depth_m, raw * np.float32(assumed), rtol=1e-6)
    with open_sequence(root, intrinsics=K, depth_encoding=encoding, depth_scale_m=1e-4) as seq:
        d = seq[1].depth_m
        # stats count what the scaled depth holds
        assert seq.stats.depth_invalid_encoded == 1
    np.testing.assert_allclose(d, raw.astype(np.float32) * np.float32(1e-4), rtol=1e-6)
    assert d[0, 0] == 0


def test_depth_scale_refused_for_disparity(tmp_path):
    root = _pairs(tmp_path / "p", np.full((12, 16), 700, np.uint16))
    with open_sequence(root, intrinsics=K, depth_encoding="nyu_disparity", depth_scale_m=1e-3) as seq:
        assert seq.assumed_depth_unit_m() is None
        with pytest.raises(ConfigError, match="not .*disparity"):
            seq[0]
        with pytest.raises(ConfigError):
            list(seq)  # not a frame to skip: the option does not fit the recording
