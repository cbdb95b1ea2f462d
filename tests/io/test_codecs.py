"""Depth encodings and image decoding: reference decodings of real samples, hand-computed
values and broken files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from real3d.core import FormatError
from real3d.io.codecs import (
    decode_depth_mm,
    decode_depth_nyu_disparity,
    decode_depth_sun,
    decode_depth_tum,
    decode_rgb,
    decode_u16,
    read_pgm16,
    sun_unshift,
)

# -- hand-computed values ------------------------------------------------------------


def test_sun_unshift_is_a_3_bit_rotation():
    raw = np.array([[8, 1, 0, 0x8000 | 0x0003]], dtype=np.uint16)
    # 8 >> 3 = 1; 1 rotates to bit 13; 0x8003: 0x1000 | (3 << 13 = 0x6000) = 0x7000
    np.testing.assert_array_equal(sun_unshift(raw), [[1, 8192, 0, 0x7000]])


def test_depth_scales():
    raw = np.array([[0, 1000, 5000]], dtype=np.uint16)
    d, n = decode_depth_mm(raw)
    np.testing.assert_allclose(d, [[0, 1, 5]])
    assert n == 1 and d.dtype == np.float32
    d, n = decode_depth_tum(raw)
    np.testing.assert_allclose(d, [[0, 0.2, 1.0]])
    d, n = decode_depth_sun(np.array([[1000 << 3]], dtype=np.uint16))
    np.testing.assert_allclose(d, [[1.0]])


def test_nyu_disparity_formula_and_invalid():
    raw = np.array([[0, 700, 2047, 2100, 1500]], dtype=np.uint16)
    d, n = decode_depth_nyu_disparity(raw)
    np.testing.assert_allclose(d[0, :2], [351.3 / 1092.5, 351.3 / (1092.5 - 700)], rtol=1e-6)
    assert d[0, 2] == 0 and d[0, 3] == 0 and n == 2
    assert d[0, 4] < 0  # past the Kinect's range: negative, zeroed at the reader boundary


def test_wrong_dtype_raises():
    with pytest.raises(FormatError, match="uint16"):
        decode_depth_mm(np.zeros((2, 2), np.float32))


# -- broken files --------------------------------------------------------------------


def _png_bytes(arr, mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG") if mode else Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_truncated_png_raises(tmp_path):
    p = tmp_path / "d.png"
    data = _png_bytes(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="truncated or corrupt"):
        decode_u16(p)


def test_truncated_jpeg_raises(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, format="JPEG")
    p = tmp_path / "c.jpg"
    p.write_bytes(buf.getvalue()[:300])
    with pytest.raises(FormatError, match="truncated or corrupt"):
        decode_rgb(p)


def test_wrong_bit_depth_raises(tmp_path):
    p8 = tmp_path / "d8.png"
    p8.write_bytes(_png_bytes(np.zeros((4, 4), np.uint8)))
    with pytest.raises(FormatError, match="16-bit"):
        decode_u16(p8)
    p16 = tmp_path / "c16.png"
    p16.write_bytes(_png_bytes(np.zeros((4, 4), np.uint16)))
    with pytest.raises(FormatError, match="8-bit colour"):
        decode_rgb(p16)


def test_missing_file_raises(tmp_path):
    with pytest.raises(FormatError, match="not found"):
        decode_rgb(tmp_path / "nope.png")
    with pytest.raises(FormatError, match="not found"):
        read_pgm16(tmp_path / "nope.pgm")


def test_pgm_byte_orders_and_errors(tmp_path):
    vals = np.array([[1, 256, 1000]], dtype=np.uint16)
    p = tmp_path / "d.pgm"
    p.write_bytes(b"P5\n# comment\n3 1\n65535\n" + vals.astype(">u2").tobytes())
    np.testing.assert_array_equal(read_pgm16(p), vals)
    np.testing.assert_array_equal(read_pgm16(p, "little"), vals.byteswap())
    p.write_bytes(b"P5\n3 1\n65535\n" + vals.astype(">u2").tobytes()[:4])
    with pytest.raises(FormatError, match="truncated"):
        read_pgm16(p)
    p.write_bytes(b"P5\n3 1\n255\n\x01\x02\x03")
    with pytest.raises(FormatError, match="8-bit"):
        read_pgm16(p)
    p.write_bytes(b"P2\n3 1\n65535\n1 2 3\n")
    with pytest.raises(FormatError, match="P5"):
        read_pgm16(p)


# -- real samples: reference decodings -----------------------------------------------


def test_sun_matches_reference_decodings(real):
    pairs = [(real / "single_frames" / "SUN_depth.png", real / "single_frames" / "SUN_depth_decoded_mm.png")]
    for ref in sorted((real / "sunrgbd").rglob("*.decoded_mm.png")):
        pairs.append((ref.with_name(ref.name.replace(".decoded_mm", "")), ref))
    assert len(pairs) == 7
    for src, ref in pairs:
        mm = sun_unshift(decode_u16(src))
        np.testing.assert_array_equal(mm, decode_u16(ref), err_msg=str(src))
        d, _ = decode_depth_sun(decode_u16(src))
        v = d[d > 0]
        assert 0.2 < np.median(v) < 6.0 and v.max() < 12.0


def test_tum_matches_reference_decoding(real):
    d, n = decode_depth_tum(decode_u16(real / "single_frames" / "TUM_depth.png"))
    ref = decode_u16(real / "single_frames" / "TUM_depth_decoded_mm.png")
    np.testing.assert_array_equal(np.rint(d * 1000).astype(np.uint16), ref)
    assert n == int((ref == 0).sum())
    v = d[d > 0]
    assert 0.3 < np.median(v) < 5.0


def test_nyu_raw_disparity_matches_reference(real):
    raw = read_pgm16(real / "single_frames" / "NYU_depth.pgm", "little")
    d, n = decode_depth_nyu_disparity(raw)
    ref = decode_u16(real / "single_frames" / "NYU_depth_decoded_mm_UNREGISTERED_depthcam.png")
    mm = np.where(d > 0, np.rint(d * 1000), 0).astype(np.uint16)
    np.testing.assert_array_equal(mm, ref)
    assert n == int((raw >= 2047).sum()) > 0
    v = d[d > 0]
    assert 0.5 < np.median(v) < 5.0 and v.max() < 10.0
    # Read big-endian (the PGM standard) the same bytes make no sense as Kinect disparity.
    assert (read_pgm16(real / "single_frames" / "NYU_depth.pgm") >= 2047).mean() > 0.5


@pytest.mark.parametrize(
    "name",
    [
        "single_frames/depth_only_person_kinect.png",
        "kinect_v2_emsanet/sample_depth.png",
        "iclnuim_synthetic_seq/depth/00000.png",
    ],
)
def test_mm_pngs_plausible(real, name):
    d, n = decode_depth_mm(decode_u16(real / name))
    v = d[d > 0]
    assert v.size > 0.3 * d.size
    assert 0.3 < np.median(v) < 6.0 and v.max() < 15.0


def test_joinmap_pgm_is_big_endian_mm(real):
    raw = read_pgm16(real / "joinmap_kinect_seq" / "depth" / "1.pgm")
    d, _ = decode_depth_mm(raw)
    v = d[d > 0]
    assert 0.5 < np.median(v) < 6.0 and v.max() < 12.0
