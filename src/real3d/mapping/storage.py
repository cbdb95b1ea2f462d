"""Storage of a ``SemanticMap``: the voxel hashes, the parallel per-voxel arrays, their
growth, and the versioned ``.npz`` format.

Fine voxels live in a ``VoxelHash`` (row = insertion order; rows are never removed or
reordered, so a row keeps its voxel for the map's life); row ``i`` of every attribute array
belongs to the voxel of hash row ``i``. Arrays grow by 1.5x (at least 4096 rows) when the
hash outgrows them. The coarse free-space cells have their own hash and count array.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

from real3d.core.errors import FormatError, Real3DError
from real3d.core.files import atomic_write_bytes
from real3d.mapping.config import SemanticMapConfig
from real3d.mapping.hashing import DistinctCells, VoxelHash, unpack_keys

MAP_FORMAT_VERSION = 3  # 2: per-voxel instance id, votes and endpoint hits; camera positions;
#                          3: per-voxel mean of the measured points


class MapStorage:
    """The voxel storage ``SemanticMap`` builds on (see the module docstring); it holds
    ``config`` and every per-voxel array, and reads and writes them."""

    def __init__(self, config: SemanticMapConfig | None = None, **overrides) -> None:
        if config is None:
            config = SemanticMapConfig(**overrides)
        elif overrides:
            config = SemanticMapConfig(**{**asdict(config), **overrides})
        self.config = config
        self._hash = VoxelHash(1 << 16)
        self._free = VoxelHash(1 << 14)
        c = config.num_classes
        self._cap = 0
        self._tsdf = np.zeros(0, np.float32)
        self._weight = np.zeros(0, np.float32)
        self._color = np.zeros((0, 3), np.float32)
        self._logev = np.zeros((0, c), np.float32)
        self._class_weight = np.zeros(0, np.float32)
        self._color_weight = np.zeros(0, np.float32)
        self._hits = np.zeros(0, np.float32)
        # Running mean of the measured points that fell in each voxel, as an offset from
        # the voxel centre in voxel units, and how many frames it averages (capped). The
        # weight is min(hits, max_weight) for maps built here, but 0 for voxels of maps
        # read from format 2, which recorded hits without their positions.
        self._hit_offset = np.zeros((0, 3), np.float32)
        self._hit_weight = np.zeros(0, np.float32)
        self._instance = np.zeros(0, np.int32)
        self._instance_votes = np.zeros(0, np.float32)
        # Class of each map instance (index = instance id; 0 = unknown class).
        self._instance_class = np.zeros(1, np.uint8)
        # Scratch grid that finds the distinct voxels and free cells of a frame.
        self._distinct = DistinctCells()
        self._free_count = np.zeros(0, np.float32)
        self.frames_integrated = 0
        self._camera_positions: list[np.ndarray] = []

    def __len__(self) -> int:
        """Number of allocated fine voxels."""
        return len(self._hash)

    @property
    def voxel_size_m(self) -> float:
        return self.config.voxel_size_m

    @property
    def camera_positions(self) -> np.ndarray:
        """(F, 3) float64 world positions of the cameras of the integrated frames."""
        return np.array(self._camera_positions, np.float64).reshape(-1, 3)

    @property
    def num_free_cells(self) -> int:
        return len(self._free)

    @property
    def nbytes(self) -> int:
        """Bytes held by voxel storage (tables and attribute arrays)."""
        return int(
            self._hash.nbytes
            + self._free.nbytes
            + self._tsdf.nbytes
            + self._weight.nbytes
            + self._color.nbytes
            + self._logev.nbytes
            + self._class_weight.nbytes
            + self._color_weight.nbytes
            + self._instance.nbytes
            + self._instance_votes.nbytes
            + self._hits.nbytes
            + self._hit_offset.nbytes
            + self._hit_weight.nbytes
            + self._free_count.nbytes
        )

    def _ensure_capacity(self, n: int) -> None:
        if n <= self._cap:
            return
        cap = max(n, int(self._cap * 1.5), 4096)

        def grow(a: np.ndarray, fill: float = 0.0) -> np.ndarray:
            # np.zeros takes zeroed pages from the system instead of writing the new rows.
            out = np.zeros((cap, *a.shape[1:]), a.dtype)
            out[: a.shape[0]] = a
            if fill:
                out[a.shape[0] :] = fill
            return out

        # Allocated-but-unobserved voxels (weight 0) read as "far in front of a surface".
        self._tsdf = grow(self._tsdf, 1.0)
        self._weight = grow(self._weight)
        self._color = grow(self._color)
        self._logev = grow(self._logev)
        self._class_weight = grow(self._class_weight)
        self._color_weight = grow(self._color_weight)
        self._instance = grow(self._instance)
        self._hits = grow(self._hits)
        self._hit_offset = grow(self._hit_offset)
        self._hit_weight = grow(self._hit_weight)
        self._instance_votes = grow(self._instance_votes)
        self._cap = cap

    def _ensure_free_capacity(self, n: int) -> None:
        if n > self._free_count.shape[0]:
            out = np.zeros(max(n, int(self._free_count.shape[0] * 1.5), 4096), np.float32)
            out[: self._free_count.shape[0]] = self._free_count
            self._free_count = out

    # ------------------------------------------------------------------ inputs

    def voxel_arrays(self) -> dict[str, np.ndarray]:
        """Views of all fine-voxel attributes, row-aligned: coords (N, 3) int64, tsdf,
        weight, color (N, 3) float32, log_evidence (N, C), class_weight (label observations),
        color_weight, hits (frames whose measured points fell in the voxel), hit_offset
        (N, 3) float32 mean position of those points relative to the voxel centre in voxel
        units, hit_weight (frames in that mean, capped), instance (N,)
        int32 map instance id (0 = none), instance_votes."""
        n = len(self)
        return {
            "coords": unpack_keys(self._hash.keys),
            "tsdf": self._tsdf[:n],
            "weight": self._weight[:n],
            "color": self._color[:n],
            "log_evidence": self._logev[:n],
            "class_weight": self._class_weight[:n],
            "color_weight": self._color_weight[:n],
            "hits": self._hits[:n],
            "hit_offset": self._hit_offset[:n],
            "hit_weight": self._hit_weight[:n],
            "instance": self._instance[:n],
            "instance_votes": self._instance_votes[:n],
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the map to a versioned ``.npz`` atomically (``real3d.core.files``)."""
        path = Path(path)
        n, nf = len(self), len(self._free)
        arrays = {
            "format_version": np.array(MAP_FORMAT_VERSION),
            "config_keys": np.array(list(asdict(self.config).keys())),
            "config_values": np.array([float(v) for v in asdict(self.config).values()]),
            "keys": self._hash.keys.copy(),
            "tsdf": self._tsdf[:n],
            "weight": self._weight[:n],
            "color": self._color[:n],
            "log_evidence": self._logev[:n],
            "class_weight": self._class_weight[:n],
            "color_weight": self._color_weight[:n],
            "instance": self._instance[:n],
            "instance_votes": self._instance_votes[:n],
            "instance_class": self._instance_class,
            "hits": self._hits[:n],
            "hit_offset": self._hit_offset[:n],
            "hit_weight": self._hit_weight[:n],
            "free_keys": self._free.keys.copy(),
            "free_count": self._free_count[:nf],
            "frames_integrated": np.array(self.frames_integrated),
            "camera_positions": self.camera_positions,
        }
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> MapStorage:
        """Read a map written by ``save`` (an instance of the class it is called on).

        Every array is checked for its shape and kind against the voxel count and the
        config it was saved with; voxel keys must be distinct.

        Raises:
            FormatError: a missing, truncated or corrupt file (not a zip, a damaged member),
                a newer format version, or arrays that are missing or do not fit (the message
                names the array, what it should be and what it is).
        """
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise FormatError(f"SemanticMap.load: no such file {path}") from None
        except Exception as e:  # truncated or not an npz
            raise FormatError(f"SemanticMap.load: {path} is not a readable .npz ({e})") from e
        with z:
            try:
                m = cls._from_npz(z, path)
            except FormatError:
                raise
            except KeyError as e:
                raise FormatError(f"SemanticMap.load: {path} lacks array {e}") from e
            except (ValueError, TypeError, OverflowError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                # a damaged member (bad CRC, truncated stream) or values of the wrong kind
                raise FormatError(f"SemanticMap.load: {path} is corrupt ({type(e).__name__}: {e})") from e
        m.version = 1
        return m

    @classmethod
    def _from_npz(cls, z, path: Path) -> MapStorage:
        """The map in the open ``.npz`` ``z`` (``load``'s work; raises what numpy, zipfile
        and zlib raise for damaged members, FormatError for arrays that do not fit)."""

        def arr(name: str, shape: tuple, kinds: str) -> np.ndarray:
            a = z[name]
            if a.shape != shape or a.dtype.kind not in kinds:
                raise FormatError(
                    f"SemanticMap.load: {path} array {name!r}: expected shape {shape} of kind "
                    f"{kinds!r}, got {a.dtype} {a.shape}"
                )
            return a

        version = int(arr("format_version", (), "iu"))
        if version > MAP_FORMAT_VERSION:
            raise FormatError(
                f"SemanticMap.load: {path} has format version {version}, this real3d reads <= {MAP_FORMAT_VERSION}"
            )
        if version < 1:
            raise FormatError(
                f"SemanticMap.load: {path} has format version {version}; expected 1..{MAP_FORMAT_VERSION}"
            )
        keys_c = z["config_keys"]
        vals_c = z["config_values"]
        if keys_c.ndim != 1 or keys_c.dtype.kind != "U" or vals_c.shape != keys_c.shape or vals_c.dtype.kind != "f":
            raise FormatError(
                f"SemanticMap.load: {path} config arrays: expected names and numbers of one length, "
                f"got {keys_c.dtype} {keys_c.shape} and {vals_c.dtype} {vals_c.shape}"
            )
        fields = SemanticMapConfig.__dataclass_fields__
        cfg_kw = {}
        for k, val in zip(keys_c.tolist(), vals_c.tolist()):
            if k in fields:
                cfg_kw[k] = int(val) if fields[k].type in ("int", int) else float(val)
        try:
            config = SemanticMapConfig(**cfg_kw)
        except (Real3DError, ValueError, TypeError) as e:
            raise FormatError(f"SemanticMap.load: {path} holds an invalid map config ({e})") from None
        m = cls(config)
        keys = z["keys"]
        if keys.ndim != 1 or keys.dtype != np.int64:
            raise FormatError(
                f"SemanticMap.load: {path} array 'keys': expected int64 (N,), got {keys.dtype} {keys.shape}"
            )
        n, c = keys.shape[0], config.num_classes
        if n and np.unique(keys).shape[0] != n:
            raise FormatError(f"SemanticMap.load: {path} array 'keys' repeats voxels; the file is corrupt")
        m._hash = VoxelHash.from_keys(keys)
        m._ensure_capacity(n)
        m._tsdf[:n] = arr("tsdf", (n,), "f")
        m._weight[:n] = arr("weight", (n,), "f")
        m._color[:n] = arr("color", (n, 3), "f")
        m._logev[:n] = arr("log_evidence", (n, c), "f")
        m._class_weight[:n] = arr("class_weight", (n,), "f")
        m._color_weight[:n] = arr("color_weight", (n,), "f")
        if version >= 2:
            m._instance[:n] = arr("instance", (n,), "iu")
            m._instance_votes[:n] = arr("instance_votes", (n,), "f")
            ic = z["instance_class"]
            if ic.ndim != 1 or ic.shape[0] < 1 or ic.dtype.kind not in "iu":
                raise FormatError(
                    f"SemanticMap.load: {path} array 'instance_class': expected integers (I,), "
                    f"got {ic.dtype} {ic.shape}"
                )
            m._instance_class = ic.astype(np.uint8)
            m._hits[:n] = arr("hits", (n,), "f")
            cams = z["camera_positions"]
            if cams.ndim != 2 or cams.shape[1] != 3 or cams.dtype.kind != "f":
                raise FormatError(
                    f"SemanticMap.load: {path} array 'camera_positions': expected float (F, 3), "
                    f"got {cams.dtype} {cams.shape}"
                )
            m._camera_positions = list(cams)
        if version >= 3:
            m._hit_offset[:n] = arr("hit_offset", (n, 3), "f")
            m._hit_weight[:n] = arr("hit_weight", (n,), "f")
        free_keys = z["free_keys"]
        if free_keys.ndim != 1 or free_keys.dtype != np.int64:
            raise FormatError(
                f"SemanticMap.load: {path} array 'free_keys': expected int64 (M,), "
                f"got {free_keys.dtype} {free_keys.shape}"
            )
        nf = free_keys.shape[0]
        if nf and np.unique(free_keys).shape[0] != nf:
            raise FormatError(f"SemanticMap.load: {path} array 'free_keys' repeats cells; the file is corrupt")
        free_count = arr("free_count", (nf,), "f")
        m._free = VoxelHash.from_keys(free_keys)
        m._ensure_free_capacity(nf)
        m._free_count[:nf] = free_count
        m.frames_integrated = int(arr("frames_integrated", (), "iu"))
        if m.frames_integrated < 0:
            raise FormatError(f"SemanticMap.load: {path} has frames_integrated {m.frames_integrated} < 0")
        return m
