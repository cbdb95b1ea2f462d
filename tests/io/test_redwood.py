"""Redwood / ICL-NUIM layout: the real sample with its trajectory, written files, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from real3d.core import FormatError, Intrinsics
from real3d.io import RedwoodSequence, open_sequence, read_trajectory_log


def _log_matrices(path):
    rows = [r for r in (ln.split() for ln in path.read_text().splitlines()) if r]
    return [np.array(rows[k + 1 : k + 5], dtype=float) for k in range(0, len(rows), 5)]


def test_iclnuim_sample(real):
    root = real / "iclnuim_synthetic_seq"
    seq = open_sequence(root)
    assert isinstance(seq, RedwoodSequence) and len(seq) == 5
    assert seq.info.intrinsics == Intrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
    mats = _log_matrices(root / "trajectory.log")
    for f, m in zip(seq, mats):
        np.testing.assert_allclose(f.world_T_cam, m, atol=1e-9)
        v = f.depth_m[f.depth_m > 0]
        assert 0.5 < np.median(v) < 5.0 and v.max() < 6.0
    assert seq.source_poses()[3] is not None


def _write(root, n=2, log=True):
    (root / "color").mkdir(parents=True)
    (root / "depth").mkdir()
    rng = np.random.default_rng(2)
    data = []
    for k in range(n):
        rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
        mm = rng.integers(0, 4000, (4, 6)).astype(np.uint16)
        Image.fromarray(rgb).save(root / "color" / f"{k:05d}.png")
        Image.fromarray(mm).save(root / "depth" / f"{k:05d}.png")
        data.append((rgb, mm))
    (root / "camera_intrinsic.json").write_text(
        json.dumps({"width": 6, "height": 4, "intrinsic_matrix": [5, 0, 0, 0, 6, 0, 2.5, 1.5, 1]})
    )
    if log:
        text = ""
        for k in range(n):
            text += f"{k} {k} {k + 1}\n1 0 0 {k}\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"
        (root / "trajectory.log").write_text(text)
    return data


def test_redwood_round_trip(tmp_path):
    data = _write(tmp_path / "r")
    seq = open_sequence(tmp_path / "r")
    assert seq.format == "redwood"
    got = list(seq)
    assert got[0].intrinsics == Intrinsics(5, 6, 2.5, 1.5, 6, 4)  # column-major matrix
    for k, (f, (rgb, mm)) in enumerate(zip(got, data)):
        np.testing.assert_array_equal(f.rgb, rgb)
        np.testing.assert_array_equal(f.depth_m, mm / np.float32(1000))
        assert f.world_T_cam[0, 3] == k


def test_trajectory_cut_short(tmp_path):
    _write(tmp_path / "r")
    p = tmp_path / "r" / "trajectory.log"
    p.write_text("\n".join(p.read_text().splitlines()[:7]))
    with pytest.raises(FormatError, match="cut short"):
        read_trajectory_log(p)
    # The reader keeps the complete entry and reports the frame of the cut one.
    seq = open_sequence(tmp_path / "r")
    assert [(b.index, "cut short" in b.reason) for b in seq.known_bad()] == [(1, True)]
    with pytest.warns(UserWarning, match="skipping frame 1"):
        got = list(seq)
    assert [f.index for f in got] == [0] and got[0].world_T_cam[0, 3] == 0


def test_trajectory_not_rigid(tmp_path):
    _write(tmp_path / "r")
    p = tmp_path / "r" / "trajectory.log"
    p.write_text(p.read_text().replace("1 0 0 0\n", "2 0 0 0\n", 1))
    with pytest.raises(FormatError, match="not a rigid transform"):
        read_trajectory_log(p)
