"""ScanNet: exported frame folders and raw ``.sens`` recordings.

Exported layout (what ScanNet's SensReader writes, plus the 2D label export)::

    color/<i>.jpg                       colour, typically 1296x968
    depth/<i>.png                       uint16 millimetres, 0 = invalid, typically 640x480
    pose/<i>.txt                        4x4 camera-to-world (``-inf`` rows = unknown pose)
    intrinsic/intrinsic_depth.txt       4x4 (the 3x3 camera matrix in the top-left)
    intrinsic/intrinsic_color.txt       4x4
    label-filt/<i>.png                  optional 2D labels: nyu40 ids, or raw ScanNet ids
                                        mapped through scannetv2-labels.combined.tsv

Every index with a colour or a depth image is a frame; one missing the other image, or
with a pose file that cannot be read, is reported and skipped (``known_bad()``, ``skipped``).
Depth is the geometric reference: colour is resized to the depth size and the depth
intrinsics are used (ScanNet's colour and depth streams are calibrated to the same
viewpoint). Labels are resized with nearest neighbour.

``.sens`` layout (little-endian), as documented with ScanNet's SensReader::

    uint32 version (4); uint64 n + n bytes sensor name
    4 x float32[16] (row-major 4x4): colour intrinsics, colour extrinsics,
                                     depth intrinsics, depth extrinsics
    int32 colour compression (-1 unknown, 0 raw, 1 png, 2 jpeg)
    int32 depth compression (-1 unknown, 0 raw uint16, 1 zlib uint16, 2 occi)
    uint32 colour width, colour height, depth width, depth height
    float32 depth shift (units per metre, typically 1000)
    uint64 frame count, then per frame:
        float32[16] camera-to-world; uint64 colour timestamp, depth timestamp (microseconds);
        uint64 colour bytes, depth bytes; the colour bytes; the depth bytes
    (IMU records follow; they are not read)

Opening a ``.sens`` reads only the per-frame headers (seeking over the image bytes) and
keeps their offsets; a frame's images are read when the frame is.
"""

from __future__ import annotations

import csv
import struct
import zlib
from pathlib import Path

import numpy as np

from real3d.core import FormatError, Intrinsics
from real3d.io import _files
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo
from real3d.io.codecs import (
    decode_depth_mm,
    decode_depth_scaled,
    decode_rgb,
    decode_u16,
    open_image,
)

# ---------------------------------------------------------------------------------------
# exported frames


def read_scannet_label_map(tsv_path, src: str = "id", dst: str = "nyu40id") -> np.ndarray:
    """``scannetv2-labels.combined.tsv`` -> lookup table raw ScanNet id -> nyu40 id (int64).

    Ids not listed map to 0 (void).
    """
    tsv_path = Path(tsv_path)
    _files.require_file(tsv_path, "ScanNet label map")
    pairs = []
    try:
        with tsv_path.open(newline="") as f:
            reader = csv.DictReader(f, delimiter="\t")
            fields = reader.fieldnames or []
            if src not in fields or dst not in fields:
                raise FormatError(f"ScanNet label map: {tsv_path} lacks columns {src!r}/{dst!r}")
            for row in reader:
                try:
                    pairs.append((int(row[src]), int(row[dst] or 0)))
                except (ValueError, TypeError):
                    continue
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise FormatError(f"ScanNet label map: cannot read {tsv_path} ({e})") from None
    pairs = [(a, b) for a, b in pairs if a >= 0]
    if not pairs:
        raise FormatError(f"ScanNet label map: {tsv_path} has no rows")
    table = np.zeros(max(a for a, _ in pairs) + 1, dtype=np.int64)
    for a, b in pairs:
        table[a] = b
    return table


def read_label_png(path: Path) -> np.ndarray:
    """An 8- or 16-bit single-channel label PNG -> (H, W) int64."""
    im = open_image(path, "label image")
    if im.mode not in ("L", "I;16", "I;16L", "I;16B", "I", "P"):
        raise FormatError(f"label image: {path} is {im.mode}; expected single-channel ids")
    return np.asarray(im).astype(np.int64)


def _find_label_map(root: Path) -> Path | None:
    for d in (root, root.parent):
        p = d / "scannetv2-labels.combined.tsv"
        if p.is_file():
            return p
    return None


class ScanNetSequence(Sequence):
    """An exported ScanNet scene folder (see module docstring).

    Args:
        path: the scene folder with ``color/``, ``depth/``, ``pose/``, ``intrinsic/``.
        options: common :class:`ReadOptions`.
        label_map: path to ``scannetv2-labels.combined.tsv`` when ``label-filt/`` holds raw
            ScanNet ids; looked for in the folder and its parent when None. Without it the
            label images must already hold nyu40 ids (values > 40 raise FormatError).
    """

    format = "scannet"

    def __init__(self, path, options: ReadOptions | None = None, *, label_map=None) -> None:
        super().__init__(path, options)
        root = self.path
        if not root.is_dir():
            raise FormatError(f"scannet: {root} is not a directory")
        colors = {p.stem: p for p in _files.list_files(root / "color", _files.COLOR_EXTS)}
        depths = {p.stem: p for p in _files.list_files(root / "depth", (".png",))}
        if not set(colors) & set(depths):
            raise FormatError(f"scannet: no colour/depth pairs with equal names under {root}")
        # Every exported index is a frame; one whose colour or depth image is missing is
        # known to be bad (reported), not silently left out.
        stems = sorted(set(colors) | set(depths), key=_files.natural_key)
        for i, stem in enumerate(stems):
            if stem not in colors or stem not in depths:
                self._mark_bad(
                    i,
                    f"scannet: frame {stem} has no "
                    f"{'colour' if stem not in colors else 'depth'} image "
                    f"(expected color/{stem}.jpg and depth/{stem}.png)",
                )
        self._stems = stems
        self._colors, self._depths = colors, depths
        intr_dir = root / "intrinsic"
        K = _files.read_matrix_txt(intr_dir / "intrinsic_depth.txt", (4, 4), "ScanNet intrinsics")
        self._K_depth = K
        self._label_dir = root / "label-filt" if (root / "label-filt").is_dir() else None
        lm = Path(label_map) if label_map is not None else _find_label_map(root)
        self._label_table = read_scannet_label_map(lm) if (lm and self._label_dir) else None

    def _num_source_frames(self) -> int:
        return len(self._stems)

    def _pose(self, i: int):
        p = self.path / "pose" / f"{self._stems[i]}.txt"
        if not p.is_file():
            return None
        return _files.check_rigid(_files.read_matrix_txt(p, (4, 4), "ScanNet pose"), f"ScanNet pose {p}")

    def _read_source(self, i: int) -> RawFrame:
        stem = self._stems[i]
        if stem not in self._colors or stem not in self._depths:
            raise FormatError(f"scannet: frame {stem} lacks its colour or depth image")
        depth, invalid = decode_depth_mm(decode_u16(self._depths[stem]))
        rgb = decode_rgb(self._colors[stem])
        intr = Intrinsics.from_K(self._K_depth, depth.shape[1], depth.shape[0])
        labels = None
        if self._label_dir is not None:
            lp = self._label_dir / f"{stem}.png"
            if lp.is_file():
                raw = read_label_png(lp)
                if self._label_table is not None:
                    if raw.max(initial=0) >= len(self._label_table):
                        raise FormatError(f"scannet: {lp} has ids beyond the label map")
                    raw = self._label_table[raw]
                labels = raw
        return RawFrame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=intr,
            invalid_encoded=invalid,
            world_T_cam=self._pose(i),
            timestamp_s=float(i),
            labels=labels,
            label_src="nyu40",
            meta={"color_path": str(self._colors[stem]), "depth_path": str(self._depths[stem])},
        )

    def source_poses(self):
        return self._collect_poses(self._pose)

    def _info(self) -> SequenceInfo:
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            depth_encoding="uint16 mm",
            pose_source="pose/",
            label_set=self.options.label_set if self._label_dir is not None else None,
        )


# ---------------------------------------------------------------------------------------
# .sens

SENS_COLOR_COMPRESSION = {-1: "unknown", 0: "raw", 1: "png", 2: "jpeg"}
SENS_DEPTH_COMPRESSION = {-1: "unknown", 0: "raw_ushort", 1: "zlib_ushort", 2: "occi_ushort"}
_FRAME_HEADER = struct.Struct("<16f4Q")


class SensSequence(Sequence):
    """A ScanNet ``.sens`` recording, read lazily (see module docstring).

    Args:
        path: the ``.sens`` file.
        options: common :class:`ReadOptions`.
        allow_truncated: a file cut short raises FormatError at open; with True the
            complete frames are kept and ``info.extra["truncated"]`` says so.
    """

    format = "sens"

    def __init__(self, path, options: ReadOptions | None = None, *, allow_truncated: bool = False) -> None:
        super().__init__(path, options)
        p = self.path
        if not p.is_file():
            raise FormatError(f"sens: file not found: {p}")
        self._fh = p.open("rb")
        try:
            self._read_header(allow_truncated)
        except Exception:
            self._fh.close()
            raise

    def _read(self, n: int, what: str) -> bytes:
        b = self._fh.read(n)
        if len(b) != n:
            raise FormatError(f"sens: {self.path} cut short in the {what}")
        return b

    def _read_header(self, allow_truncated: bool) -> None:
        (version,) = struct.unpack("<I", self._read(4, "header"))
        if version != 4:
            raise FormatError(f"sens: {self.path}: version {version}, expected 4 (not a .sens?)")
        (n,) = struct.unpack("<Q", self._read(8, "header"))
        if n > 4096:
            raise FormatError(f"sens: {self.path}: sensor name of {n} bytes; corrupt header")
        self.sensor_name = self._read(n, "header").decode("utf-8", "replace")
        mats = np.frombuffer(self._read(4 * 64, "header"), dtype="<f4").reshape(4, 4, 4)
        self.intrinsic_color, self.extrinsic_color = mats[0].astype(np.float64), mats[1]
        self.intrinsic_depth, self.extrinsic_depth = mats[2].astype(np.float64), mats[3]
        cc, dc, cw, ch, dw, dh, shift, nframes = struct.unpack("<iiIIIIfQ", self._read(4 * 7 + 8, "header"))
        if cc not in SENS_COLOR_COMPRESSION or dc not in SENS_DEPTH_COMPRESSION:
            raise FormatError(f"sens: {self.path}: unknown compression codes {cc}, {dc}")
        self.color_compression = SENS_COLOR_COMPRESSION[cc]
        self.depth_compression = SENS_DEPTH_COMPRESSION[dc]
        if self.depth_compression not in ("raw_ushort", "zlib_ushort"):
            raise FormatError(
                f"sens: {self.path}: depth compression {self.depth_compression} is not supported "
                "(raw_ushort, zlib_ushort are)"
            )
        if min(cw, ch, dw, dh) == 0 or not (np.isfinite(shift) and shift > 0):
            raise FormatError(f"sens: {self.path}: corrupt header (sizes {cw}x{ch}, {dw}x{dh}, depth shift {shift})")
        self.color_size = (cw, ch)
        self.depth_size = (dw, dh)
        self.depth_shift = float(shift)
        size = self.path.stat().st_size
        # Scan the per-frame headers only: seek over the image bytes.
        index = []
        pos = self._fh.tell()
        self.truncated = False
        for _ in range(nframes):
            if pos + _FRAME_HEADER.size > size:
                self.truncated = True
                break
            self._fh.seek(pos)
            vals = _FRAME_HEADER.unpack(self._fh.read(_FRAME_HEADER.size))
            pose = np.asarray(vals[:16], dtype=np.float64).reshape(4, 4)
            t_color, t_depth, n_color, n_depth = vals[16:]
            start = pos + _FRAME_HEADER.size
            if start + n_color + n_depth > size:
                self.truncated = True
                break
            index.append((start, n_color, n_depth, t_color, t_depth, pose))
            pos = start + n_color + n_depth
        if self.truncated and not allow_truncated:
            raise FormatError(
                f"sens: {self.path} cut short: header announces {nframes} frames, "
                f"{len(index)} are complete (pass allow_truncated=True to read those)"
            )
        self._index = index
        self.num_frames_announced = nframes

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __del__(self):
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()

    def _num_source_frames(self) -> int:
        return len(self._index)

    def _pose(self, i: int):
        # Unknown poses are stored as -inf matrices; check_rigid turns them into None.
        return _files.check_rigid(self._index[i][5], f"sens pose of frame {i}")

    def _read_source(self, i: int) -> RawFrame:
        start, n_color, n_depth, t_color, _t_depth, _ = self._index[i]
        self._fh.seek(start)
        cbytes = self._fh.read(n_color)
        dbytes = self._fh.read(n_depth)
        if len(cbytes) != n_color or len(dbytes) != n_depth:
            raise FormatError(f"sens: {self.path} cut short in frame {i}")
        cw, ch = self.color_size
        if self.color_compression == "raw":
            if n_color != cw * ch * 3:
                raise FormatError(f"sens: frame {i}: {n_color} raw colour bytes, expected {cw * ch * 3}")
            rgb = np.frombuffer(cbytes, np.uint8).reshape(ch, cw, 3).copy()
        else:
            rgb = decode_rgb(cbytes, f"sens colour of frame {i}")
        dw, dh = self.depth_size
        if self.depth_compression == "zlib_ushort":
            try:
                dbytes = zlib.decompress(dbytes)
            except zlib.error as e:
                raise FormatError(f"sens: frame {i}: corrupt zlib depth ({e})") from None
        if len(dbytes) != dw * dh * 2:
            raise FormatError(f"sens: frame {i}: {len(dbytes)} depth bytes, expected {dw * dh * 2}")
        raw = np.frombuffer(dbytes, dtype="<u2").reshape(dh, dw).astype(np.uint16)
        depth, invalid = decode_depth_scaled(raw, self.depth_shift)
        intr = Intrinsics.from_K(self.intrinsic_depth, dw, dh)
        return RawFrame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=intr,
            invalid_encoded=invalid,
            world_T_cam=self._pose(i),
            timestamp_s=t_color * 1e-6,
            meta={"sens_frame": i},
        )

    def source_poses(self):
        return self._collect_poses(self._pose)

    def _info(self) -> SequenceInfo:
        dw, dh = self.depth_size
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            size_hw=(dh, dw),
            intrinsics=Intrinsics.from_K(self.intrinsic_depth, dw, dh),
            depth_encoding=f"{self.depth_compression}, {self.depth_shift:g} per metre",
            pose_source="per-frame camera_to_world",
            extra={
                "sensor": self.sensor_name,
                "colour": f"{self.color_compression} {self.color_size[0]}x{self.color_size[1]}",
                "truncated": self.truncated,
                "frames_announced": self.num_frames_announced,
            },
        )


def write_sens(
    path,
    frames,
    intrinsic_color,
    intrinsic_depth,
    *,
    sensor_name="real3d",
    depth_shift: float = 1000.0,
    color_format: str = "jpeg",
) -> None:
    """Write a ``.sens`` file (used to convert recordings and to test the reader).

    Args:
        path: output file.
        frames: iterable of (rgb (H, W, 3) uint8, depth_raw (h, w) uint16 in ``depth_shift``
            units per metre, world_T_cam (4, 4) or None (stored as -inf), timestamp_us int).
        intrinsic_color, intrinsic_depth: 3x3 or 4x4 camera matrices.
        color_format: ``"jpeg"``, ``"png"`` or ``"raw"``.
    """
    import io

    from PIL import Image

    frames = list(frames)
    if not frames:
        raise FormatError("write_sens: no frames")
    codes = {"raw": 0, "png": 1, "jpeg": 2}
    ch, cw = frames[0][0].shape[:2]
    dh, dw = frames[0][1].shape

    def mat4(K):
        M = np.eye(4, dtype=np.float32)
        K = np.asarray(K, dtype=np.float32)
        M[: K.shape[0], : K.shape[1]] = K
        return M

    with open(path, "wb") as f:
        name = sensor_name.encode()
        f.write(struct.pack("<IQ", 4, len(name)) + name)
        for M in (mat4(intrinsic_color), np.eye(4), mat4(intrinsic_depth), np.eye(4)):
            f.write(np.asarray(M, dtype="<f4").tobytes())
        f.write(struct.pack("<iiIIIIfQ", codes[color_format], 1, cw, ch, dw, dh, depth_shift, len(frames)))
        for rgb, depth_raw, pose, t_us in frames:
            if color_format == "raw":
                cbytes = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
            else:
                buf = io.BytesIO()
                Image.fromarray(rgb).save(buf, format="JPEG" if color_format == "jpeg" else "PNG", quality=95)
                cbytes = buf.getvalue()
            dbytes = zlib.compress(np.ascontiguousarray(depth_raw, dtype="<u2").tobytes())
            P = np.full((4, 4), -np.inf, np.float32) if pose is None else np.asarray(pose)
            f.write(np.asarray(P, dtype="<f4").tobytes())
            f.write(struct.pack("<4Q", int(t_us), int(t_us), len(cbytes), len(dbytes)))
            f.write(cbytes)
            f.write(dbytes)
        f.write(struct.pack("<Q", 0))  # no IMU frames
