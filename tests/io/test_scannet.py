"""ScanNet: exported frame folders and .sens files written here byte by byte."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from real3d.core import FormatError, Intrinsics
from real3d.io import ScanNetSequence, SensSequence, open_sequence, write_sens

CH, CW, DH, DW = 24, 32, 12, 16
K_COLOR = np.array([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]])
K_DEPTH = np.array([[20.0, 0, 7.5], [0, 20.0, 5.5], [0, 0, 1]])


def _mat4(K):
    M = np.eye(4)
    M[:3, :3] = K
    return M


def _pose(k):
    T = np.eye(4)
    T[:3, 3] = [k, 2.0, 0.5]
    return T


def _data(n=3, seed=4):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rgb = rng.integers(0, 256, (CH, CW, 3), dtype=np.uint8)
        mm = rng.integers(0, 6000, (DH, DW)).astype(np.uint16)
        out.append((rgb, mm))
    return out


# -- exported folders ----------------------------------------------------------------


def _write_export(root, labels=None, n=3):
    for d in ("color", "depth", "pose", "intrinsic"):
        (root / d).mkdir(parents=True)
    data = _data(n)
    for k, (rgb, mm) in enumerate(data):
        Image.fromarray(rgb).save(root / "color" / f"{k}.png")
        Image.fromarray(mm).save(root / "depth" / f"{k}.png")
        P = _pose(k) if k != 1 else np.full((4, 4), -np.inf)  # ScanNet's "unknown pose"
        np.savetxt(root / "pose" / f"{k}.txt", P)
    np.savetxt(root / "intrinsic" / "intrinsic_depth.txt", _mat4(K_DEPTH))
    np.savetxt(root / "intrinsic" / "intrinsic_color.txt", _mat4(K_COLOR))
    if labels is not None:
        (root / "label-filt").mkdir()
        for k in range(n):
            Image.fromarray(labels.astype(np.uint16)).save(root / "label-filt" / f"{k}.png")
    return data


def test_export_round_trip(tmp_path):
    data = _write_export(tmp_path / "scene0000_00")
    seq = open_sequence(tmp_path / "scene0000_00")
    assert isinstance(seq, ScanNetSequence) and len(seq) == 3
    got = list(seq)
    for f, (rgb, mm) in zip(got, data):
        np.testing.assert_array_equal(f.depth_m, mm / np.float32(1000))
        # colour brought to the depth size; depth intrinsics used
        assert f.rgb.shape == (DH, DW, 3)
        assert f.intrinsics == Intrinsics.from_K(K_DEPTH, DW, DH)
        small = np.asarray(Image.fromarray(rgb).resize((DW, DH), Image.Resampling.BILINEAR))
        np.testing.assert_array_equal(f.rgb, small)
    np.testing.assert_allclose(got[0].world_T_cam, _pose(0))
    assert got[1].world_T_cam is None and seq.stats.frames_without_pose == 1
    assert [p is None for p in seq.source_poses()] == [False, True, False]


def test_export_labels_nyu40_to_13(tmp_path):
    lab = np.zeros((DH, DW), np.int64)
    lab[0, :4] = [1, 2, 14, 40]  # wall, floor, desk, otherprop
    _write_export(tmp_path / "s", labels=lab)
    f = open_sequence(tmp_path / "s")[0]
    np.testing.assert_array_equal(f.labels[0, :5], [12, 5, 10, 7, 0])  # NYU13 ids
    f40 = open_sequence(tmp_path / "s", label_set="nyu40")[0]
    np.testing.assert_array_equal(f40.labels[0, :5], [1, 2, 14, 40, 0])
    assert f.labels.dtype == np.uint8


def test_export_raw_ids_need_label_map(tmp_path):
    lab = np.zeros((DH, DW), np.int64)
    lab[0, 0] = 300
    _write_export(tmp_path / "s", labels=lab)
    with pytest.raises(FormatError, match=r"nyu40 ids in \[0, 40\]"):
        open_sequence(tmp_path / "s")[0]
    (tmp_path / "scannetv2-labels.combined.tsv").write_text("id\traw_category\tnyu40id\n300\tchair\t5\n")
    f = open_sequence(tmp_path / "s")[0]
    assert f.labels[0, 0] == 4  # nyu40 chair (5) -> NYU13 chair (4)


def test_export_missing_intrinsics(tmp_path):
    _write_export(tmp_path / "s")
    (tmp_path / "s" / "intrinsic" / "intrinsic_depth.txt").unlink()
    with pytest.raises(FormatError, match="intrinsic_depth.txt"):
        open_sequence(tmp_path / "s")


# -- .sens, written with the documented layout ---------------------------------------


def _jpeg(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _write_sens_bytes(path, data, poses, corrupt_frame=None):
    """The .sens layout spelled out here, independently of the reader."""
    out = bytearray()
    name = b"StructureSensor"
    out += struct.pack("<I", 4) + struct.pack("<Q", len(name)) + name
    for M in (_mat4(K_COLOR), np.eye(4), _mat4(K_DEPTH), np.eye(4)):
        out += np.asarray(M, "<f4").tobytes()
    out += struct.pack("<ii", 2, 1)  # jpeg colour, zlib depth
    out += struct.pack("<IIII", CW, CH, DW, DH)
    out += struct.pack("<f", 1000.0)
    out += struct.pack("<Q", len(data))
    for k, ((rgb, mm), P) in enumerate(zip(data, poses)):
        c = _jpeg(rgb)
        d = zlib.compress(mm.astype("<u2").tobytes())
        if k == corrupt_frame:
            d = b"\x00garbage" + d[8:]
        out += np.asarray(P, "<f4").tobytes()
        out += struct.pack("<QQQQ", 1_000_000 * (k + 1), 1_000_000 * (k + 1) + 10, len(c), len(d))
        out += c + d
    out += struct.pack("<Q", 0)  # IMU frame count
    path.write_bytes(bytes(out))


def test_sens_round_trip(tmp_path):
    data = _data()
    poses = [_pose(0), np.full((4, 4), -np.inf), _pose(2)]
    p = tmp_path / "scene.sens"
    _write_sens_bytes(p, data, poses)
    with open_sequence(p) as seq:
        assert isinstance(seq, SensSequence) and len(seq) == 3
        assert seq.sensor_name == "StructureSensor"
        got = list(seq)
        for k, (f, (rgb, mm)) in enumerate(zip(got, data)):
            np.testing.assert_array_equal(f.depth_m, mm / np.float32(1000))
            assert f.timestamp_s == pytest.approx(k + 1.0)
            assert f.intrinsics == Intrinsics.from_K(K_DEPTH, DW, DH)
            want = np.asarray(Image.open(io.BytesIO(_jpeg(rgb))).resize((DW, DH), Image.Resampling.BILINEAR))
            np.testing.assert_array_equal(f.rgb, want)
        np.testing.assert_allclose(got[2].world_T_cam, _pose(2))
        assert got[1].world_T_cam is None
        assert seq.info.size_hw == (DH, DW)


def test_sens_reads_lazily(tmp_path):
    # every frame after the first holds corrupt depth: frame 0 must not touch them
    data = _data(4)
    p = tmp_path / "lazy.sens"
    _write_sens_bytes(p, data, [_pose(k) for k in range(4)], corrupt_frame=2)
    with open_sequence(p) as seq:
        np.testing.assert_array_equal(seq[0].depth_m, data[0][1] / np.float32(1000))
        with pytest.raises(FormatError, match="corrupt zlib"):
            seq[2]
        with pytest.warns(UserWarning, match="skipping frame 2"):
            assert [f.index for f in seq] == [0, 1, 3]
    with open_sequence(p, strict=True) as seq, pytest.raises(FormatError, match="zlib"):
        list(seq)


def test_sens_cut_short(tmp_path):
    data = _data()
    p = tmp_path / "cut.sens"
    _write_sens_bytes(p, data, [_pose(k) for k in range(3)])
    blob = p.read_bytes()
    p.write_bytes(blob[: len(blob) - 200])
    with pytest.raises(FormatError, match="cut short.*3 frames, 2 are complete"):
        open_sequence(p)
    with open_sequence(p, allow_truncated=True) as seq:
        assert len(seq) == 2 and seq.info.extra["truncated"]
        np.testing.assert_array_equal(seq[1].depth_m, data[1][1] / np.float32(1000))
    p.write_bytes(blob[:100])
    with pytest.raises(FormatError, match="cut short in the header"):
        open_sequence(p)


def test_sens_wrong_version(tmp_path):
    p = tmp_path / "v.sens"
    p.write_bytes(struct.pack("<I", 7) + b"\x00" * 400)
    with pytest.raises(FormatError, match="version 7"):
        open_sequence(p)


@pytest.mark.parametrize("color_format", ["png", "raw"])
def test_write_sens_matches_reader(tmp_path, color_format):
    data = _data(2)
    p = tmp_path / "w.sens"
    write_sens(
        p, [(rgb, mm, _pose(k), 5 * k) for k, (rgb, mm) in enumerate(data)], K_COLOR, K_DEPTH, color_format=color_format
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_sequence(p, resize=1.0) as seq:
            f = seq[1]
    np.testing.assert_array_equal(f.depth_m, data[1][1] / np.float32(1000))
    np.testing.assert_allclose(f.world_T_cam, _pose(1))
    small = np.asarray(Image.fromarray(data[1][0]).resize((DW, DH), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(f.rgb, small)  # lossless colour formats: exact
