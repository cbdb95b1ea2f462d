"""The common reader behaviour: options, statistics, resizing, indexing and skipping."""

from __future__ import annotations

import numpy as np
import pytest

from real3d.core import ConfigError, FormatError, Intrinsics
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo, resize_nearest

K = Intrinsics(10.0, 10.0, 3.5, 2.5, 8, 6)


class _Fake(Sequence):
    """Five frames; frame 2 cannot be decoded; depth carries NaN, inf and a negative."""

    format = "fake"

    def _num_source_frames(self):
        return 5

    def _read_source(self, i):
        if i == 2:
            raise FormatError("frame 2 is broken")
        d = np.full((6, 8), 1.0 + i, np.float32)
        d[0, 0] = 0.0
        d[0, 1] = np.nan
        d[0, 2] = np.inf
        d[0, 3] = -1.0
        rgb = np.full((6, 8, 3), i, np.uint8)
        return RawFrame(
            rgb=rgb,
            depth_m=d,
            intrinsics=K,
            invalid_encoded=1,
            timestamp_s=i,
            labels=np.full((6, 8), 14, np.int64),
            label_src="nyu40",
        )

    def _info(self):
        return SequenceInfo(self.format, str(self.path), 0, 0, size_hw=(6, 8), intrinsics=K)


def test_stats_count_every_conversion():
    seq = _Fake("x")
    f = seq[0]
    assert f.depth_m[0, :4].tolist() == [0, 0, 0, 0] and np.isfinite(f.depth_m).all()
    s = seq.stats
    assert (s.depth_pixels, s.depth_invalid_encoded, s.depth_nonfinite_or_negative, s.depth_valid) == (48, 1, 3, 44)
    assert f.labels[0, 0] == 10  # nyu40 desk -> nyu13 table
    assert s.frames_without_pose == 1


def test_iteration_skips_and_strict_raises():
    seq = _Fake("x")
    with pytest.warns(UserWarning, match="frame 2 is broken"):
        got = list(seq)
    assert [f.index for f in got] == [0, 1, 3, 4]
    assert seq.skipped[0].index == 2 and seq.stats.frames_skipped == 1
    with pytest.raises(FormatError, match="broken"):
        seq[2]
    with pytest.raises(FormatError):
        list(_Fake("x", ReadOptions(strict=True)))


def test_indexing_stride_max_frames_slices():
    seq = _Fake("x", ReadOptions(stride=2, max_frames=2))
    assert len(seq) == 2 and list(seq.source_indices()) == [0, 2]
    seq = _Fake("x", ReadOptions(stride=3))
    assert len(seq) == 2
    assert seq[-1].timestamp_s == 3.0 and seq[-1].index == 1
    assert [f.timestamp_s for f in seq[0:2]] == [0.0, 3.0]
    with pytest.raises(IndexError):
        seq[2]
    assert seq.info.num_frames == 2 and seq.info.num_source_frames == 5


def test_resize_follows_intrinsics_and_nearest():
    seq = _Fake("x", ReadOptions(resize=0.5, depth_range_m=(0.0, 1.5)))
    f = seq[1]
    assert f.size_hw == (3, 4) and f.intrinsics == K.resized(4, 3)
    assert seq.info.intrinsics == K.resized(4, 3) and seq.info.size_hw == (3, 4)
    assert np.all(f.depth_m == 0)  # 2.0 m is beyond the 1.5 m clamp
    assert seq.stats.depth_out_of_range == 44


def test_resize_nearest_pixel_centres():
    x = np.arange(6).reshape(1, 6)
    np.testing.assert_array_equal(resize_nearest(x, (1, 3)), [[1, 3, 5]])
    np.testing.assert_array_equal(resize_nearest(x, (1, 12)), [[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]])


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=0),
        dict(stride=1.5),
        dict(max_frames=-1),
        dict(resize=(10,)),
        dict(resize=-1.0),
        dict(resize=(0, 5)),
        dict(depth_range_m=(2, 1)),
        dict(label_set="ade20k"),
        dict(intrinsics=(1, 2, 3, 4)),
    ],
)
def test_bad_options(kw):
    with pytest.raises(ConfigError):
        ReadOptions(**kw)


def test_intrinsics_option_overrides_and_scales():
    big = Intrinsics(20.0, 20.0, 7.5, 5.5, 16, 12)  # same camera at twice the size
    f = _Fake("x", ReadOptions(intrinsics=big))[0]
    assert f.intrinsics == big.resized(8, 6)
