"""The reader contract shared by every format: options, statistics and the lazy Sequence.

A reader decodes one *source* frame at a time into a :class:`RawFrame` (depth already in
metres, colour uint8) and the base class does everything that is the same for all formats:
depth sanitising and counting, the depth range clamp, colour/depth size reconciliation,
resizing with intrinsics that follow, label mapping, stride / max-frames selection, and the
skip-or-raise policy for frames that cannot be decoded.
"""

from __future__ import annotations

import abc
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from real3d.core import ConfigError, FormatError, Frame, InputError, Intrinsics, sanitize_depth
from real3d.core.errors import Real3DError
from real3d.core.labels import NYU40_TO_NYU13
from real3d.io.nyu_tables import nyu894_to_40

#: Label sets a reader can deliver in ``Frame.labels`` (uint8, 0 = void).
LABEL_SETS = ("nyu13", "nyu40")

#: largest ``ReadOptions.depth_scale_m``: 1 stored unit = 1 m (float metres)
MAX_DEPTH_SCALE_M = 1.0
#: metres per stored unit of the linear depth encodings a ``depth_encoding`` option names
LINEAR_DEPTH_UNITS_M = {"mm": 1e-3, "tum": 1 / 5000, "sun": 1e-3}
#: metres per stored unit of the formats whose depth encoding is fixed
FORMAT_DEPTH_UNITS_M = {"tum": 1 / 5000, "real3d": 1e-3, "scannet": 1e-3, "sunrgbd": 1e-3, "nyu_labeled": 1.0}

#: What decoding libraries (PIL, h5py, zlib, struct, rosbags, numpy) raise for damaged
#: bytes; a reader turns these into :class:`FormatError` for the one frame they belong to.
DAMAGED_INPUT_ERRORS = (
    OSError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    EOFError,
    OverflowError,
    struct.error,
    zlib.error,
)


def as_format_error(e: Exception, what: str) -> FormatError:
    """``e`` as a :class:`FormatError` about ``what`` (a FormatError passes unchanged; an
    InputError about file contents or a library's error for damaged bytes is wrapped)."""
    if isinstance(e, FormatError):
        return e
    if isinstance(e, InputError):
        return FormatError(f"{what}: {e}")
    return FormatError(f"{what}: damaged input ({type(e).__name__}: {e})")


class MissingIntrinsicsError(FormatError):
    """The recording gives no camera intrinsics and none were passed (``intrinsics=``)."""


@dataclass(frozen=True)
class ReadOptions:
    """Options every reader honours.

    Attributes:
        resize: output size as ``(height, width)`` in pixels, or a positive scale factor;
            None keeps the sensor size. Colour is resized bilinearly, depth, labels and
            instances with nearest neighbour (no mixing of invalid zeros into valid depth);
            the intrinsics follow (:meth:`Intrinsics.resized`).
        stride: keep every ``stride``-th source frame (>= 1).
        max_frames: stop after this many frames (after the stride), None for all.
        depth_range_m: ``(near, far)`` in metres; depth outside is set to 0 (invalid) and
            counted in ``stats.depth_out_of_range``. None keeps every finite depth > 0.
        label_set: label set of ``Frame.labels``: ``"nyu13"`` (default) or ``"nyu40"``.
            Readers whose source labels cannot be mapped to it leave labels out.
        strict: when True, a frame that cannot be decoded raises :class:`FormatError` while
            iterating; when False (default) it is reported (warning + ``Sequence.skipped``)
            and skipped.
        intrinsics: colour-camera intrinsics to use where the source has none (or to
            override them), for the source image size.
        depth_scale_m: metres per stored depth unit (0.001 for millimetres, 0.0002 for TUM's
            5000 per metre), replacing the unit the reader assumes for the source
            (:meth:`Sequence.assumed_depth_unit_m`); None keeps it. A value in
            ``(0, MAX_DEPTH_SCALE_M]``; readers whose depth is not linear in the stored value
            (disparity) refuse it with ConfigError.
    """

    resize: tuple[int, int] | float | None = None
    stride: int = 1
    max_frames: int | None = None
    depth_range_m: tuple[float, float] | None = None
    label_set: str = "nyu13"
    strict: bool = False
    intrinsics: Intrinsics | None = None
    depth_scale_m: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stride, bool) or not isinstance(self.stride, (int, np.integer)) or self.stride < 1:
            raise ConfigError(f"ReadOptions.stride: expected an integer >= 1, got {self.stride!r}")
        if self.max_frames is not None and (not isinstance(self.max_frames, (int, np.integer)) or self.max_frames < 0):
            raise ConfigError(f"ReadOptions.max_frames: expected None or an integer >= 0, got {self.max_frames!r}")
        if self.resize is not None:
            if isinstance(self.resize, (int, float)) and not isinstance(self.resize, bool):
                if not self.resize > 0:
                    raise ConfigError(f"ReadOptions.resize: expected a factor > 0, got {self.resize}")
            else:
                r = tuple(self.resize)
                if len(r) != 2 or any(int(v) != v or v <= 0 for v in r):
                    raise ConfigError(
                        "ReadOptions.resize: expected (height, width) positive integers or a "
                        f"factor, got {self.resize!r}"
                    )
                object.__setattr__(self, "resize", (int(r[0]), int(r[1])))
        if self.depth_range_m is not None:
            r = tuple(float(v) for v in self.depth_range_m)
            if len(r) != 2 or not (0 <= r[0] < r[1]):
                raise ConfigError(
                    "ReadOptions.depth_range_m: expected (near, far) metres with 0 <= near < far, "
                    f"got {self.depth_range_m!r}"
                )
            object.__setattr__(self, "depth_range_m", r)
        if self.label_set not in LABEL_SETS:
            raise ConfigError(
                f"ReadOptions.label_set: unknown label set {self.label_set!r}; valid: " + ", ".join(LABEL_SETS)
            )
        if self.intrinsics is not None and not isinstance(self.intrinsics, Intrinsics):
            raise ConfigError(
                f"ReadOptions.intrinsics: expected real3d.Intrinsics, got {type(self.intrinsics).__name__}"
            )

        if self.depth_scale_m is not None:
            v = self.depth_scale_m
            ok = isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
            if not (ok and np.isfinite(v) and 0 < v <= MAX_DEPTH_SCALE_M):
                hint = f" (units per metre? pass 1/{v:g} = {1 / v:.6g})" if ok and np.isfinite(v) and v > 1 else ""
                raise ConfigError(
                    f"ReadOptions.depth_scale_m: expected metres per stored depth unit in (0, "
                    f"{MAX_DEPTH_SCALE_M:g}], e.g. 0.001 for millimetres, got {v!r}{hint}"
                )
            object.__setattr__(self, "depth_scale_m", float(v))

    @classmethod
    def split(cls, options: dict) -> tuple[ReadOptions, dict]:
        """Separate the common options from reader-specific ones."""
        names = set(cls.__dataclass_fields__)
        common = {k: v for k, v in options.items() if k in names}
        rest = {k: v for k, v in options.items() if k not in names}
        return cls(**common), rest


@dataclass
class SequenceStats:
    """What the readers converted, counted over the frames decoded so far.

    Attributes:
        frames_decoded: frames successfully decoded.
        frames_skipped: frames that could not be decoded (see ``Sequence.skipped``).
        frames_without_depth / frames_without_pose: decoded frames lacking depth / a pose.
        depth_pixels: depth pixels seen (at sensor resolution, before resizing).
        depth_invalid_encoded: pixels the sensor encoding itself marks as invalid (0 in
            mm / TUM / SUN PNGs, NYU disparity >= 2047, zero in ``.sens``, ...), now 0.
        depth_nonfinite_or_negative: NaN, inf or negative values (e.g. 32FC1 NaN holes,
            disparity past the Kinect's range) set to 0 by ``core.sanitize_depth``.
        depth_out_of_range: pixels set to 0 by the ``depth_range_m`` clamp.
        depth_valid: pixels left with a depth > 0.
    """

    frames_decoded: int = 0
    frames_skipped: int = 0
    frames_without_depth: int = 0
    frames_without_pose: int = 0
    depth_pixels: int = 0
    depth_invalid_encoded: int = 0
    depth_nonfinite_or_negative: int = 0
    depth_out_of_range: int = 0
    depth_valid: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SkippedFrame:
    """A frame that could not be decoded: its position in the sequence and why."""

    index: int
    source_index: int
    reason: str


@dataclass
class SequenceInfo:
    """What a sequence is, known without decoding its images.

    Attributes:
        format: format name (a key of ``real3d.io.FORMATS``).
        path: the path the sequence was opened from.
        num_frames: frames after stride / max_frames.
        num_source_frames: frames in the source.
        size_hw: output (height, width) in pixels, when known up front.
        intrinsics: output intrinsics when constant over the sequence, else None.
        depth_encoding: how the source stores depth, e.g. ``"uint16 mm"``.
        label_set: label set of ``Frame.labels``, or None when the source has no labels.
        pose_source: where poses come from (``"trajectory.log"``, ``"tf"``, ``"gravity"``...)
            or None when the source has no poses.
        extra: format-specific facts (sensor name, topics, split, ...).
    """

    format: str
    path: str
    num_frames: int
    num_source_frames: int
    size_hw: tuple[int, int] | None = None
    intrinsics: Intrinsics | None = None
    depth_encoding: str | None = None
    label_set: str | None = None
    pose_source: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class RawFrame:
    """One decoded source frame, before the common post-processing.

    Attributes:
        rgb: (H, W, 3) uint8 colour.
        depth_m: (Hd, Wd) float32 metres or None. 0 = invalid; NaN/inf/negative are allowed
            here and get sanitised and counted. May differ in size from rgb; then rgb is
            resized to the depth size (depth is the geometric reference).
        intrinsics: intrinsics for the rgb size or for the depth size (then already
            matching the output), or None to use ``ReadOptions.intrinsics``.
        invalid_encoded: depth pixels the encoding marked invalid (already 0 in depth_m).
        nonfinite_removed: NaN/inf/negative pixels a reader had to drop itself before the
            boundary (e.g. before re-projecting depth); added to the same statistic.
        world_T_cam: (4, 4) float64 camera-to-world pose or None.
        timestamp_s: capture time in seconds.
        labels: (H, W) integer labels in ``label_src`` ids, or None.
        label_src: ``"nyu13"``, ``"nyu40"`` or ``"nyu894"``.
        instances: (H, W) integer instance ids or None.
        depth_clean_m: (H, W) float32 noise-free depth in metres (synthetic data) or None;
            resized like depth, not counted in the statistics.
        meta: extra per-frame facts, copied into ``Frame.meta``.
        depth_unit_m: metres per stored unit the reader decoded ``depth_m`` with (0.001 for
            16-bit millimetres, 1.0 for float metres), when it varies per frame; None = the
            sequence's :meth:`Sequence.assumed_depth_unit_m`.
    """

    rgb: np.ndarray
    depth_m: np.ndarray | None
    intrinsics: Intrinsics | None
    invalid_encoded: int = 0
    nonfinite_removed: int = 0
    world_T_cam: np.ndarray | None = None
    timestamp_s: float = 0.0
    labels: np.ndarray | None = None
    label_src: str = "nyu13"
    instances: np.ndarray | None = None
    depth_clean_m: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    depth_unit_m: float | None = None


def resize_rgb(rgb: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8, bilinear."""
    if rgb.shape[:2] == tuple(size_hw):
        return rgb
    im = Image.fromarray(rgb).resize((size_hw[1], size_hw[0]), Image.Resampling.BILINEAR)
    return np.asarray(im)


def resize_nearest(x: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) array, sampling at pixel centres.

    Source pixel for output pixel i is ``floor((i + 0.5) * H / h)``, the same pixel-centre
    convention as :meth:`Intrinsics.resized`, so labels and depth stay registered.
    """
    h, w = size_hw
    if x.shape[:2] == (h, w):
        return x
    rows = np.minimum(((np.arange(h) + 0.5) * x.shape[0] / h).astype(np.int64), x.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * x.shape[1] / w).astype(np.int64), x.shape[1] - 1)
    return x[rows[:, None], cols[None, :]]


def _nyu894_to(dst: str) -> np.ndarray:
    t40 = nyu894_to_40()
    return t40 if dst == "nyu40" else NYU40_TO_NYU13[t40]


def map_source_labels(labels: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Map source label ids to ``dst`` (``"nyu13"`` or ``"nyu40"``), uint8 out.

    Supported sources: ``nyu894`` (NYU Depth v2 labeled set), ``nyu40`` (also ScanNet's
    ``nyu40id``), ``nyu13``. Ids outside the source set raise FormatError, because they
    mean the file is not what it claims to be.
    """
    if src == dst:
        table = None
        n = {"nyu13": 14, "nyu40": 41}[src]
    elif (src, dst) == ("nyu40", "nyu13"):
        table = NYU40_TO_NYU13
        n = len(table)
    elif src == "nyu894":
        table = _nyu894_to(dst)
        n = len(table)
    else:
        raise ConfigError(f"no label mapping {src} -> {dst}")
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        raise FormatError(f"labels: expected {src} ids in [0, {n - 1}], got [{labels.min()}, {labels.max()}]")
    if table is None:
        return labels.astype(np.uint8)
    return table[labels.astype(np.int64)]


class Sequence(abc.ABC):
    """A lazily read sequence of :class:`Frame` objects.

    ``len(seq)``, ``seq[i]`` (negative indices allowed) and ``for frame in seq`` decode one
    frame at a time; nothing is decoded up front. ``seq.info`` describes the sequence,
    ``seq.stats`` counts the conversions done so far, ``seq.skipped`` lists frames that could
    not be decoded while iterating.

    Indexing a frame that cannot be decoded raises :class:`FormatError` (you asked for that
    frame); iteration skips it unless ``strict=True``. Some broken frames are known at open
    without decoding an image (a bad pose row, a colour image without its depth image):
    :meth:`known_bad` lists them, and they are refused and skipped the same way.

    Subclasses implement :meth:`_num_source_frames`, :meth:`_read_source` and
    :meth:`_info`, and may override :meth:`source_poses` and :meth:`close`.
    """

    #: format name, the key in ``real3d.io.FORMATS``
    format: str = ""

    def __init__(self, path, options: ReadOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options if options is not None else ReadOptions()
        self.stats = SequenceStats()
        self.skipped: list[SkippedFrame] = []
        # source index -> why that frame cannot be delivered, found without decoding images
        # (at open, or by source_poses); filled by the readers.
        self._bad_sources: dict[int, str] = {}

    # -- to implement ------------------------------------------------------------------
    @abc.abstractmethod
    def _num_source_frames(self) -> int:
        """Number of frames in the source (before stride / max_frames)."""

    @abc.abstractmethod
    def _read_source(self, source_index: int) -> RawFrame:
        """Decode source frame ``source_index``; raise FormatError when it cannot be."""

    @abc.abstractmethod
    def _info(self) -> SequenceInfo:
        """Metadata; ``num_frames`` etc. are filled in by :attr:`info`."""

    def source_poses(self) -> list[np.ndarray | None] | None:
        """Poses of the selected frames without decoding images, or None when that is not
        possible cheaply (then callers decode frames to find out)."""
        return None

    def close(self) -> None:
        """Release open files."""

    def assumed_depth_unit_m(self) -> float | None:
        """Metres per stored depth unit this reader decodes with, for depth stored linearly
        (integers in mm or TUM units, float metres); None where depth is not linear in the
        stored value (disparity) or the unit is not known. ``ReadOptions.depth_scale_m``
        replaces it. Readers with an encoding option say it through ``depth_encoding``
        (a name of ``LINEAR_DEPTH_UNITS_M``), ``depth_scale`` or ``depth_shift`` (units
        per metre)."""
        encoding = getattr(self, "depth_encoding", None)
        if encoding is not None:
            return LINEAR_DEPTH_UNITS_M.get(encoding)
        for per_metre in ("depth_scale", "depth_shift"):
            v = getattr(self, per_metre, None)
            if isinstance(v, (int, float)) and v > 0:
                return 1.0 / float(v)
        return FORMAT_DEPTH_UNITS_M.get(self.format)

    # -- known-bad frames ----------------------------------------------------------------
    def known_bad(self) -> list[SkippedFrame]:
        """Frames of this sequence (after stride / max_frames) known to be unusable without
        decoding their images: a bad pose row, a colour image without its depth image, an
        unreadable pose file seen by :meth:`source_poses`, ... Iteration skips and reports
        them like any undecodable frame; indexing one raises :class:`FormatError`."""
        return [
            SkippedFrame(k, src, self._bad_sources[src])
            for k, src in enumerate(self.source_indices())
            if src in self._bad_sources
        ]

    def _mark_bad(self, source_index: int, reason: str) -> None:
        self._bad_sources.setdefault(int(source_index), reason)

    def _collect_poses(self, pose_of) -> list[np.ndarray | None]:
        """``pose_of(source_index)`` for each selected frame; a pose that cannot be read is
        None here and the frame is marked bad (see :meth:`known_bad`)."""
        out = []
        for src in self.source_indices():
            pose = None
            if src not in self._bad_sources:
                try:
                    pose = pose_of(src)
                except (Real3DError, *DAMAGED_INPUT_ERRORS) as e:
                    if isinstance(e, ConfigError):
                        raise
                    self._mark_bad(src, str(as_format_error(e, f"{self.format}: pose of source frame {src}")))
            out.append(pose)
        return out

    def _read_checked(self, source_index: int) -> RawFrame:
        """:meth:`_read_source`, with known-bad frames refused and whatever a damaged file
        makes a decoder raise turned into :class:`FormatError`."""
        reason = self._bad_sources.get(source_index)
        if reason is not None:
            raise FormatError(reason)
        try:
            return self._read_source(source_index)
        except (FormatError, ConfigError):
            raise
        except (Real3DError, *DAMAGED_INPUT_ERRORS) as e:
            raise as_format_error(e, f"{self.format}: source frame {source_index} of {self.path}") from e

    def _frame(self, source_index: int, index: int) -> Frame:
        """Source frame ``source_index`` decoded and post-processed as frame ``index``."""
        raw = self._read_checked(source_index)
        try:
            return self._finish(raw, index)
        except InputError as e:
            # what the file holds (a size, a calibration) made a conversion fail
            raise FormatError(f"{self.format}: frame {index} of {self.path}: {e}") from e

    # -- common behaviour --------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def source_indices(self) -> range:
        """Source frame index of each frame of this sequence (stride / max_frames)."""
        r = range(0, self._num_source_frames(), self.options.stride)
        if self.options.max_frames is not None:
            r = r[: self.options.max_frames]
        return r

    def __len__(self) -> int:
        return len(self.source_indices())

    @property
    def info(self) -> SequenceInfo:
        info = self._info()
        info.format = self.format
        info.path = str(self.path)
        info.num_source_frames = self._num_source_frames()
        info.num_frames = len(self)
        if info.size_hw is not None:
            info.size_hw = self._output_size(info.size_hw)
        if info.intrinsics is not None:
            info.intrinsics = info.intrinsics.resized(*self._output_size(info.intrinsics.size_hw)[::-1])
        return info

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not isinstance(index, (int, np.integer)):
            raise InputError(f"Sequence index: expected an int or slice, got {type(index).__name__}")
        sel = self.source_indices()
        n = len(sel)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range for a sequence of {n} frames")
        index = int(index) % n
        return self._frame(sel[index], index)

    def __iter__(self):
        for k, src in enumerate(self.source_indices()):
            try:
                frame = self._frame(src, k)
            except FormatError as e:
                if self.options.strict:
                    raise
                self._report_skip(k, src, e, stacklevel=3)
                continue
            yield frame

    def _report_skip(self, k: int, source_index: int, e: Exception, stacklevel: int = 2) -> None:
        """Record frame ``k`` as skipped: ``skipped``, ``stats`` and a warning."""
        self.skipped.append(SkippedFrame(k, source_index, str(e)))
        self.stats.frames_skipped += 1
        warnings.warn(f"{self.format}: skipping frame {k}: {e}", stacklevel=stacklevel)

    def _rescale_depth(self, depth_m: np.ndarray, unit_m: float | None) -> np.ndarray:
        """``depth_m`` decoded with ``unit_m`` (or the assumed unit) metres per stored unit,
        re-expressed with ``ReadOptions.depth_scale_m`` instead."""
        unit = unit_m if unit_m is not None else self.assumed_depth_unit_m()
        if unit is None:
            raise ConfigError(
                f"{self.format}: depth_scale_m (--depth-scale) applies to depth stored linearly (integer "
                f"units or float metres); {self.path} stores depth in a form that is not (e.g. disparity)"
            )
        factor = self.options.depth_scale_m / unit
        if factor == 1.0:
            return depth_m
        return np.asarray(depth_m, np.float32) * np.float32(factor)

    def _output_size(self, size_hw: tuple[int, int]) -> tuple[int, int]:
        r = self.options.resize
        if r is None:
            return tuple(size_hw)
        if isinstance(r, tuple):
            return r
        return (max(1, round(size_hw[0] * r)), max(1, round(size_hw[1] * r)))

    def _finish(self, raw: RawFrame, index: int) -> Frame:
        """Common post-processing of one decoded frame, counted in ``stats``."""
        opts = self.options
        rgb = raw.rgb
        if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
            raise FormatError(
                f"{self.format}: colour decoded to {getattr(rgb, 'shape', rgb)}, expected (H, W, 3) uint8"
            )
        # A calibration passed by the caller wins over what the source says.
        intr = opts.intrinsics if opts.intrinsics is not None else raw.intrinsics
        if intr is None:
            raise MissingIntrinsicsError(
                f"{self.format}: {self.path} gives no camera intrinsics for frame {index}; "
                "pass intrinsics=real3d.Intrinsics(...)"
            )
        depth = raw.depth_m
        stats_update = {}
        if depth is not None and opts.depth_scale_m is not None:
            depth = self._rescale_depth(depth, raw.depth_unit_m)
        if depth is not None:
            depth, n_bad = sanitize_depth(depth)
            stats_update["depth_pixels"] = depth.size
            stats_update["depth_invalid_encoded"] = int(raw.invalid_encoded)
            stats_update["depth_nonfinite_or_negative"] = n_bad + int(raw.nonfinite_removed)
            n_out = 0
            if opts.depth_range_m is not None:
                near, far = opts.depth_range_m
                out = (depth > 0) & ((depth < near) | (depth > far))
                n_out = int(out.sum())
                if n_out:
                    depth = depth.copy()
                    depth[out] = 0.0
            stats_update["depth_out_of_range"] = n_out
            stats_update["depth_valid"] = int((depth > 0).sum())
            # Depth is the geometric reference: colour is brought to its size.
            if depth.shape != rgb.shape[:2]:
                if intr.size_hw == rgb.shape[:2]:
                    intr = intr.resized(depth.shape[1], depth.shape[0])
                rgb = resize_rgb(rgb, depth.shape)
        if intr.size_hw != rgb.shape[:2]:
            # Intrinsics for a different image size of the same camera (e.g. a user-given
            # calibration at full resolution): scale them.
            intr = intr.resized(rgb.shape[1], rgb.shape[0])
        labels = raw.labels
        if labels is not None:
            labels = map_source_labels(labels, raw.label_src, opts.label_set)
            labels = resize_nearest(labels, rgb.shape[:2])
        instances = raw.instances
        if instances is not None:
            instances = resize_nearest(np.asarray(instances).astype(np.int32), rgb.shape[:2])
        clean = raw.depth_clean_m
        if clean is not None:
            clean, _ = sanitize_depth(clean)
            clean = resize_nearest(clean, rgb.shape[:2])
        out_hw = self._output_size(rgb.shape[:2])
        if out_hw != rgb.shape[:2]:
            rgb = resize_rgb(rgb, out_hw)
            intr = intr.resized(out_hw[1], out_hw[0])
            if depth is not None:
                depth = resize_nearest(depth, out_hw)
            if labels is not None:
                labels = resize_nearest(labels, out_hw)
            if instances is not None:
                instances = resize_nearest(instances, out_hw)
            if clean is not None:
                clean = resize_nearest(clean, out_hw)
        meta = dict(raw.meta)
        meta.setdefault("format", self.format)
        try:
            frame = Frame(
                rgb=np.ascontiguousarray(rgb),
                depth_m=None if depth is None else np.ascontiguousarray(depth, dtype=np.float32),
                intrinsics=intr,
                world_T_cam=raw.world_T_cam,
                timestamp_s=float(raw.timestamp_s),
                labels=None if labels is None else np.ascontiguousarray(labels),
                instances=None if instances is None else np.ascontiguousarray(instances),
                depth_clean_m=None if clean is None else np.ascontiguousarray(clean),
                index=index,
                meta=meta,
                label_set=opts.label_set,
            )
        except InputError as e:
            # Whatever the file holds that a Frame rejects (a non-rigid pose, ...) is a
            # property of the file, so it is reported as a format problem.
            raise FormatError(f"{self.format}: frame {index} of {self.path}: {e}") from e
        s = self.stats
        for k, v in stats_update.items():
            setattr(s, k, getattr(s, k) + v)
        s.frames_decoded += 1
        s.frames_without_depth += depth is None
        s.frames_without_pose += raw.world_T_cam is None
        return frame

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.format} {str(self.path)!r} frames={len(self)}>"
