"""Sparse semantic TSDF map: geometry, colour and class evidence fused from RGB-D frames.

Storage: fine voxels (``voxel_size_m``) exist only within ``truncation_m`` of an observed
surface, in a ``VoxelHash`` keyed by integer voxel coordinates; memory grows with the
observed surface, not with the bounding volume. Free space seen along camera rays is kept
in a second, coarse hash (``free_voxel_size_m``) that only counts how often each coarse
cell was crossed, so every point is free, occupied or unknown. The arrays, their growth and
the file format are ``real3d.mapping.storage.MapStorage``, the base class; the settings
``real3d.mapping.config.SemanticMapConfig``.

Fusion per frame (pixels subsampled by ``pixel_stride``):

* Allocation: for each kept pixel, the voxels holding samples along its ray within
  +-truncation of the measured surface (one sample per voxel length).
* TSDF: each allocated voxel centre is projected into the full-resolution depth image;
  ``sdf = (depth - z_centre) * |ray| * cos(incidence)`` (metres, > 0 in front of the
  surface; the incidence angle between ray and surface normal comes from the depth image,
  so the value approximates the distance to the surface, not along the ray) is stored as
  ``tsdf = clip(sdf / truncation_m, -1, 1)`` (voxels more than a truncation behind the
  surface are left alone) and averaged with weight +1 per frame, capped at
  ``max_weight``. Each voxel gets exactly one update per frame.
* Class evidence: voxels within ``label_band_voxels`` of the surface add ``log(max(p, min_prob))`` of
  the class probabilities of the pixel they project to (naive-Bayes log-posterior, renormalised so its maximum is
  0 and floored at ``min_log_evidence`` so that a changed scene can still flip a voxel).
* Colour: running mean of the pixel colour over the same near-surface voxels.
* Instances (optional): when the frame comes with a 2D instance segmentation (per-frame
  segment ids whose numbering need not agree between frames), each segment is associated
  with the map instance that most of its already-labelled near-surface voxels hold (same
  class, one segment per map instance and frame), or starts a new map instance. Each voxel
  keeps one instance id with a vote count: agreeing frames add a vote, disagreeing frames
  remove one, and at zero the voxel takes the new id.
* Free space: sparser rays (``free_stride``) mark coarse cells from the camera up to
  ``truncation_m`` before the surface.

The per-pixel depth tests that keep flying pixels out are ``real3d.mapping.depth_tests``;
the per-frame passes run as compiled kernels (``real3d.mapping.fusion_kernels``: the same
operations in the same precision, so the same maps; the GIL is released while they run).
Fusion computes everything it needs from the frame first (the distinct voxels of the ray
samples, their signed distances, the pixels they read) and changes the map only then, so
a frame refused for bad input leaves it as it was. This module keeps fusion and the
queries together because they work on the same private arrays of the storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from real3d.core.counts import ratio_count
from real3d.core.errors import InputError, describe_array
from real3d.core.frame import Frame
from real3d.core.pose import check_pose
from real3d.core.values import real_array, real_number
from real3d.core.refinement import MapRefinement
from real3d.core.segmentation import normalized_entropy
from real3d.mapping.config import SemanticMapConfig
from real3d.mapping import fusion_kernels as fk
from real3d.mapping.depth_tests import camera_terms, neighbours_distinct
from real3d.mapping.hashing import AXIS_RANGE_VOXELS, keys_from_cells, pack_floor, unpack_keys
from real3d.mapping.storage import MAP_FORMAT_VERSION, MapStorage

if TYPE_CHECKING:
    from real3d.core.segmentation import SegmentationResult

__all__ = ["FREE", "MAP_FORMAT_VERSION", "OCCUPIED", "UNKNOWN", "SemanticMap", "SemanticMapConfig", "SemanticPoints"]

OCCUPIED = 1
FREE = 0
UNKNOWN = -1

# Bits of the largest float32 that passes ``<= 1 + 1e-3`` as a float64 (see _check_probabilities).
_MAX_PROB_BITS = int(np.array([1.0 + 1e-3]).astype(np.float32).view(np.uint32)[0])
if float(np.array([_MAX_PROB_BITS], np.uint32).view(np.float32)[0]) > 1.0 + 1e-3:
    _MAX_PROB_BITS -= 1
_MAX_PROB = np.array([_MAX_PROB_BITS], np.uint32).view(np.float32)[0]


def _certainly_rigid(T, tol: float = 1e-4) -> np.ndarray | None:
    """``T`` as a new (4, 4) float64 array when it passes ``check_pose``'s tests with room
    to spare (every deviation within half of ``tol``), else None: then ``check_pose``
    decides and names what is wrong. A few scalar operations instead of its array calls
    (a pose is checked on every frame)."""
    if type(T) is not np.ndarray or T.shape != (4, 4) or T.dtype not in (np.float64, np.float32):
        return None
    M = T.astype(np.float64)
    rows4 = M.tolist()
    if not all(math.isfinite(x) for row in rows4 for x in row):
        return None
    r0, r1, r2, b = rows4
    half = 0.5 * tol
    if abs(b[0]) > half or abs(b[1]) > half or abs(b[2]) > half or abs(b[3] - 1.0) > half:
        return None
    rows = (r0, r1, r2)
    for i in range(3):
        for j in range(i, 3):
            dot = rows[i][0] * rows[j][0] + rows[i][1] * rows[j][1] + rows[i][2] * rows[j][2]
            if abs(dot - (1.0 if i == j else 0.0)) > half:
                return None
    det = (
        r0[0] * (r1[1] * r2[2] - r1[2] * r2[1])
        - r0[1] * (r1[0] * r2[2] - r1[2] * r2[0])
        + r0[2] * (r1[0] * r2[1] - r1[1] * r2[0])
    )
    return M if det > 0 else None


def _check_probabilities(p: np.ndarray) -> None:
    """Raise InputError unless every value of the float32 array ``p`` is finite and lies
    in [0, 1] (1 + 1e-3 allowed for rounding).

    One integer pass over the bits decides almost always: a float32 in [+0, 1 + 1e-3] has
    bits in [0, _MAX_PROB_BITS], and negative values (sign bit set), NaN and inf lie
    above. Only when it fails (-0.0 included) do min and max decide and name the values.
    """
    if p.size == 0 or int(p.view(np.uint32).max()) <= _MAX_PROB_BITS:
        return
    lo, hi = float(p.min()), float(p.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError("SemanticMap.integrate: probabilities contain NaN or inf")
    if lo < 0.0 or hi > 1.0 + 1e-3:
        raise InputError(
            f"SemanticMap.integrate: probabilities must lie in [0, 1], got [{lo:.4g}, {hi:.4g}] "
            "(logits? apply a softmax first)"
        )


# integrate's stand-ins for class probabilities and "use" when a frame reads none.
_NO_PROBS = np.empty((0, 0), np.float32)
_NO_USE = np.empty(0, np.bool_)


def _row_max(a: np.ndarray) -> np.ndarray:
    """(N,) max over the columns of an (N, C) array, one column at a time (numpy's
    ``max(axis=1)`` over a few columns is several times slower)."""
    out = a[:, 0].copy()
    for k in range(1, a.shape[1]):
        np.maximum(out, a[:, k], out=out)
    return out


@dataclass
class SemanticPoints:
    """Surface voxels of the map as a labelled point cloud (world frame, z up).

    Attributes:
        points: (N, 3) float64 surface points, metres: voxel centres, snapped onto the
            surface or the mean measured point per voxel (see ``semantic_points``).
        labels: (N,) uint8 class ids (0 = no class evidence).
        confidence: (N,) float32 posterior probability of ``labels``.
        colors: (N, 3) uint8 mean observed colour.
        tsdf: (N,) float32 truncated signed distance in [-1, 1].
        weight: (N,) float32 fusion weight.
        rows: (N,) int64 row ids of the voxels in the map.
        normals: (N, 3) float64 unit outward surface normals (sdf gradient; zero where it
            is unknown), or None when the points were not snapped.
    """

    points: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    colors: np.ndarray
    tsdf: np.ndarray
    weight: np.ndarray
    rows: np.ndarray
    normals: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True)
class _RayGrid:
    """What fusion reads of every ``stride``-th pixel of an (H, W) image (from
    ``stride // 2``, row by row) for given intrinsics, worked out once per size, stride
    and camera: G pixels.

    Attributes:
        v, u: (G,) int64 pixel rows and columns.
        cam_dir: (G, 3) float64 camera-frame rays at z = 1.
        terms, sides: ``camera_terms`` for the incidence angle (step 2).
        distinct: (4, G) bool, ``neighbours_distinct``.
    """

    v: np.ndarray
    u: np.ndarray
    cam_dir: np.ndarray
    terms: np.ndarray
    sides: np.ndarray
    distinct: np.ndarray

    @classmethod
    def build(cls, h: int, w: int, stride: int, K) -> _RayGrid:
        vv, uu = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride]
        v, u = vv.ravel(), uu.ravel()
        cu, cv = (u - K.cx) / K.fx, (v - K.cy) / K.fy
        terms, sides = camera_terms(K, v, u, h, w, 2)
        return cls(
            v=np.ascontiguousarray(v, np.int64),
            u=np.ascontiguousarray(u, np.int64),
            cam_dir=np.stack([cu, cv, np.ones_like(cu)], axis=1),
            terms=np.ascontiguousarray(terms),
            sides=np.ascontiguousarray(sides),
            distinct=np.ascontiguousarray(neighbours_distinct(v, u, h, w)),
        )


class _FrameScratch:
    """The work arrays of ``SemanticMap.integrate`` for up to ``rays`` rays and ``samples``
    samples along them (rays x samples per ray), kept between frames so that a frame
    does not allocate them: per ray (``fine_rays``' outputs), per sample (the distinct voxels
    and their scratch), per distinct voxel (``project_voxels``' and ``fuse_voxels``').
    Contents are meaningless between calls."""

    def __init__(self, rays: int, samples: int) -> None:
        g, s = rays, samples
        self.rays, self.samples = g, s
        self.ok, self.centre = np.empty(g, np.int64), np.empty(g, np.int64)
        self.d, self.cos, self.agreed = np.empty(g), np.empty(g), np.empty(g, np.bool_)
        self.surf, self.hit_off, self.dirs = np.empty((g, 3)), np.empty((g, 3)), np.empty((g, 3))
        self.lohi, self.counts = np.empty((2, 3)), np.empty(2, np.int64)
        self.last, self.keys, self.lin, self.ray = (np.empty(s, np.int64) for _ in range(4))
        self.vcell = np.empty((s, 3))
        # A frame has at most as many distinct voxels as samples.
        self.vox, self.pix = np.empty(s, np.int64), np.empty(s, np.int64)
        self.sdf, self.near, self.labelled = np.empty(s), np.empty(s, np.bool_), np.empty(s, np.bool_)
        self.sums = np.empty((s, 4))
        # Per labelled voxel: pixel, index into the updated voxels, "use"; (L, C) class
        # probabilities in class_probs, sized by the frames' distinct voxels (class_rows).
        self.lab_pix, self.lab_vox, self.use = np.empty(s, np.int64), np.empty(s, np.int64), np.empty(s, np.bool_)
        self.class_probs = np.empty((0, 0), np.float32)
        self.lab_counts = np.empty(2, np.int64)

    def class_rows(self, m: int, c: int) -> np.ndarray:
        """``class_probs`` with room for ``m`` voxels of ``c`` classes (grown, at least
        doubling, when it has less)."""
        a = self.class_probs
        if a.shape[0] < m or a.shape[1] != c:
            rows = max(m, 2 * a.shape[0]) if a.shape[1] == c else m
            a = self.class_probs = np.empty((rows, c), np.float32)
        return a


class SemanticMap(MapStorage):
    """Sparse voxel TSDF with per-voxel class evidence and a coarse free-space set.

    Example::

        m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15)
        for frame in sequence:
            m.integrate(frame)                # ground-truth labels, or
            m.integrate(frame, result)        # SegmentationResult / (14, H, W) float32 / (H, W) uint8
        pts = m.semantic_points()
    """

    def __init__(self, config: SemanticMapConfig | None = None, **overrides) -> None:
        super().__init__(config, **overrides)
        # A 3D network's labels and instances for the first rows (see set_refinement).
        self._refinement: MapRefinement | None = None
        # Bumped on every integrate and refinement; derived structures (scene graph,
        # costmap) compare it.
        self.version = 0
        # Cubes (integer coordinates, edge camera_spacing_m) that hold a recorded camera
        # position, and the list of positions they were built from (see _record_camera).
        self._camera_cells: set[tuple[int, int, int]] = set()
        self._camera_cells_of: list | None = None
        # Per image size, stride and camera: the fusion rays' _RayGrid and the free-space
        # rays' directions (see _ray_grid, _camera_rays).
        self._ray_cache: dict[tuple, object] = {}
        # integrate's work arrays, kept between frames (see _frame_scratch).
        self._scratch: _FrameScratch | None = None

    @property
    def camera_spacing_m(self) -> float:
        """Edge of the cubes in which one camera position is kept: half a voxel."""
        return 0.5 * self.config.voxel_size_m

    def _record_camera(self, position: np.ndarray) -> None:
        """Keep ``position`` ((3,) world metres) in ``camera_positions`` unless an earlier
        camera stood in the same cube of edge ``camera_spacing_m``.

        The positions mark where the robot has been (``project_map_2d``'s
        ``traversed_radius_m``), so one per small cube loses at most the cube's diagonal of
        that and keeps the list as large as the set of places visited, not as the number of
        frames: a camera that stays on a fixed map adds nothing. A list read from a file
        (or set by hand) is deduplicated the same way, keeping the first in each cube.
        """
        s = self.camera_spacing_m
        if self._camera_cells_of is not self._camera_positions:
            kept, cells = [], set()
            for q in self._camera_positions:
                c = tuple(int(x) for x in np.floor(np.asarray(q, np.float64) / s))
                if c not in cells:
                    cells.add(c)
                    kept.append(np.asarray(q, np.float64))
            self._camera_positions[:] = kept
            self._camera_cells, self._camera_cells_of = cells, self._camera_positions
        x, y, z = position.tolist()
        c = (math.floor(x / s), math.floor(y / s), math.floor(z / s))  # np.floor(position / s), as ints
        if c not in self._camera_cells:
            self._camera_cells.add(c)
            self._camera_positions.append(np.array(position, np.float64))

    def _check_frame(self, frame: Frame) -> np.ndarray:
        """Check what fusion needs of ``frame``; returns its pose, checked again (a Frame
        validates its pose when built, but the array may have been changed since)."""
        if not isinstance(frame, Frame):
            raise InputError(f"SemanticMap.integrate: expected a real3d.Frame, got {type(frame).__name__}")
        if frame.depth_m is None:
            raise InputError("SemanticMap.integrate: the frame has no depth (depth_m is None)")
        if frame.world_T_cam is None:
            raise InputError("SemanticMap.integrate: the frame has no pose (world_T_cam is None)")
        if frame.intrinsics is None:
            raise InputError("SemanticMap.integrate: the frame has no intrinsics")
        T = _certainly_rigid(frame.world_T_cam)
        return check_pose(frame.world_T_cam, "SemanticMap.integrate: frame.world_T_cam") if T is None else T

    def _ray_grid(self, h: int, w: int, K) -> _RayGrid:
        """The fusion rays' ``_RayGrid`` for this image size and camera (kept)."""
        cfg = self.config
        key = ("rays", h, w, cfg.pixel_stride, K.fx, K.fy, K.cx, K.cy)
        grid = self._ray_cache.get(key)
        if grid is None:
            if len(self._ray_cache) > 16:  # a camera whose intrinsics keep changing
                self._ray_cache.clear()
            grid = self._ray_cache[key] = _RayGrid.build(h, w, cfg.pixel_stride, K)
        return grid

    def _camera_rays(self, h: int, w: int, stride: int, K) -> np.ndarray:
        """(G, 3) float64 camera-frame rays at z = 1, ((u - cx) / fx, (v - cy) / fy, 1), of
        every ``stride``-th pixel of an (h, w) image from ``stride // 2``, row by row (kept
        per size, stride and camera)."""
        key = ("free", h, w, stride, K.fx, K.fy, K.cx, K.cy)
        rays = self._ray_cache.get(key)
        if rays is None:
            if len(self._ray_cache) > 16:  # a camera whose intrinsics keep changing
                self._ray_cache.clear()
            vv, uu = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride]
            v, u = vv.ravel(), uu.ravel()
            rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones(u.shape[0])], axis=1)
            self._ray_cache[key] = rays
        return rays

    def _prepare_probs(self, frame: Frame, probs):
        """Validate the class input; returns None (no labels), ("labels", (H * W,) uint8),
        ("chw", (C, H * W) float32) or ("hwc", (H * W, C) float32), C with or without the
        void channel (views of the input where its layout allows)."""
        c = self.config.num_classes
        h, w = frame.size_hw
        if probs is None:
            if frame.labels is None:
                return None
            probs = frame.labels
        if hasattr(probs, "network_hw") and hasattr(probs, "probs"):
            return self._prepare_network_probs(frame, probs)
        if hasattr(probs, "probs") and hasattr(probs, "labels"):  # a SegmentationResult
            probs = probs.probs
        try:
            probs = np.asarray(probs)
        except (TypeError, ValueError) as e:  # ragged nesting, an unconvertible object
            raise InputError(
                f"SemanticMap.integrate: expected (H, W) uint8 labels or (C, H, W) float32 "
                f"probabilities, got {type(probs).__name__} ({e})"
            ) from None
        if probs.ndim == 2:
            if probs.shape != (h, w):
                raise InputError(
                    f"SemanticMap.integrate: labels must be (H, W) = ({h}, {w}), got {describe_array(probs)}"
                )
            if probs.dtype != np.uint8:
                raise InputError(f"SemanticMap.integrate: labels must be uint8, got {describe_array(probs)}")
            if probs.size and int(probs.max()) >= c:
                raise InputError(
                    f"SemanticMap.integrate: labels must lie in [0, {c - 1}] ({c - 1} classes and "
                    f"void 0, num_classes={c}), got a label {int(probs.max())}"
                )
            return ("labels", probs.reshape(-1))
        channels_first = probs.ndim == 3 and probs.shape[1:] == (h, w) and probs.shape[0] in (c, c - 1)
        channels_last = probs.ndim == 3 and probs.shape[:2] == (h, w) and probs.shape[2] in (c, c - 1)
        if not (channels_first or channels_last):
            raise InputError(
                f"SemanticMap.integrate: probabilities must be ({c}, H, W) or ({c - 1}, H, W) "
                f"float32 with H, W = {h}, {w} (or the same channels last), got {describe_array(probs)}"
            )
        if probs.dtype != np.float32:
            raise InputError(f"SemanticMap.integrate: probabilities must be float32, got {describe_array(probs)}")
        # The map reads only the pixels its voxels project to, by flat pixel index.
        if channels_first:
            return ("chw", probs.reshape(probs.shape[0], h * w))
        return ("hwc", probs.reshape(h * w, probs.shape[2]))

    def _prepare_network_probs(self, frame: Frame, seg):
        """("net", (C, h * w) float32, (H, W), (h, w)) for a segmentation whose class
        probabilities are at the network's size (``real3d.models.NetworkSegmentation``:
        ``probs`` (C, h, w) with the void channel, ``labels`` at the frame's size)."""
        c = self.config.num_classes
        h, w = frame.size_hw
        p = seg.probs
        if not isinstance(p, np.ndarray) or p.ndim != 3 or p.dtype != np.float32 or p.shape[0] != c:
            raise InputError(
                f"SemanticMap.integrate: network-size probabilities must be ({c}, h, w) float32 (void "
                f"channel included), got {describe_array(p)}"
            )
        lab = getattr(seg, "labels", None)
        if not isinstance(lab, np.ndarray) or lab.shape != (h, w):
            raise InputError(
                f"SemanticMap.integrate: a network-size segmentation must carry labels of the frame's size "
                f"({h}, {w}), got {describe_array(lab)}"
            )
        return ("net", p.reshape(c, -1), (h, w), (int(p.shape[1]), int(p.shape[2])))

    def _probs_at(self, prepared, pix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, C) float32 probabilities at flat pixel indices ``pix`` (void channel first;
        possibly a transposed view) and (N,) bool "use": a class is at least as likely as
        void (every pixel of a segmenter's output, whose void channel is 0). For labels
        and network-size probabilities; ``project_voxels`` reads frame-size
        probabilities itself.

        Raises:
            InputError: NaN, inf or values outside [0, 1] among the probabilities read.
        """
        c = self.config.num_classes
        kind, arr = prepared[0], prepared[1]
        if kind == "labels":
            lab = arr.take(pix).astype(np.int64)
            a = self.config.label_smoothing
            p = np.full((lab.shape[0], c), a / (c - 1), np.float32)
            p[np.arange(lab.shape[0]), lab] = 1.0 - a
            return p, lab != 0
        p = _bilinear_at(arr, prepared[2], prepared[3], pix).T  # "net": void channel included
        _check_probabilities(p)
        return p, _row_max(p[:, 1:]) >= p[:, 0]

    # ------------------------------------------------------------------ fusion
    def _prepare_instances(self, frame: Frame, probs, instances):
        """Validate the instance input; returns None or an (H, W) integer array."""
        if instances is None:
            # Ground-truth mode only: a frame's own instances go with its own labels.
            instances = frame.instances if probs is None else None
        if instances is None:
            return None
        instances = np.asarray(instances)
        if instances.shape != frame.size_hw or instances.dtype.kind not in "iu":
            raise InputError(
                f"SemanticMap.integrate: instances must be (H, W) = {frame.size_hw} integer segment "
                f"ids (0 = none), got {describe_array(instances)}"
            )
        if instances.size and instances.dtype.kind == "i" and int(instances.min()) < 0:
            raise InputError(f"SemanticMap.integrate: instance ids must be >= 0 (0 = none), got {int(instances.min())}")
        if instances.size and int(instances.max()) >= 1 << 31:
            raise InputError(f"SemanticMap.integrate: instance ids must be < 2**31, got {int(instances.max())}")
        return instances

    def integrate(
        self,
        frame: Frame,
        probs: SegmentationResult | np.ndarray | None = None,
        instances: np.ndarray | None = None,
        *,
        weight: float = 1.0,
        truncation_m: float | None = None,
    ) -> None:
        """Fuse one frame.

        Args:
            frame: a ``Frame`` with depth_m (H, W) float32 metres, intrinsics and
                world_T_cam (camera -> world, z up).
            probs: the frame's segmentation: a ``SegmentationResult`` (what every
                segmenter's ``predict`` returns), or its layout, (C, H, W) float32 class
                probabilities indexed by label id with C = num_classes (void at 0) or
                num_classes - 1 (no void); or (H, W) uint8 labels (0 = void, not fused).
                Channels-last (H, W, C) probabilities are accepted too (for a square
                frame of C or C - 1 pixels a side both fit; it is read as (C, H, W)).
                Probabilities are read in place, whatever their strides; memory that
                holds each pixel's values side by side (channels-last, or a (C, H, W)
                view of it) is the cheapest to read: one or two cache lines per pixel
                instead of one in each of C planes.
                A segmentation with probabilities at the network's size (a
                ``NetworkSegmentation``: ``probs`` (num_classes, h, w) with void, ``labels``
                (H, W)) is read where the map needs it, resampled bilinearly as a resize to
                (H, W) would give it, without making the frame-size array.
                None uses ``frame.labels`` (ground truth); when both are missing only
                geometry and free space are fused.
            instances: (H, W) integer 2D instance segment ids of this frame (0 = none); ids
                need not be consistent between frames. None uses ``frame.instances`` when
                ``probs`` is None too (ground-truth mode), else fuses no instances.
            weight: this frame's say, in (0, 1]: every running mean (TSDF, colour,
                endpoint hits) and count (class evidence, which is scaled log-probability,
                and free space) gains ``weight`` instead of one observation. Depth that is
                less trustworthy than a sensor's (e.g. predicted from colour) fuses with a
                lower weight, so measured depth of the same place outweighs it. Queries read
                surfaces of at least one observation's weight by default (``min_weight``).
            truncation_m: this frame's truncation distance in metres (default: the map's
                ``truncation_m``); a wider band for noisier depth. Voxels within it of the
                surface are updated; the stored TSDF stays normalised by the map's
                truncation, clipped to [-1, 1]. Free space is carved up to this distance
                before each reading.

        Raises:
            InputError: missing depth, pose or intrinsics; a pose that is no longer rigid;
                wrong probability or instance shape or dtype; labels outside
                [0, num_classes - 1]; probabilities NaN/inf or outside [0, 1] at a pixel
                the map reads (those that near-surface voxels project to; the others are
                not read, so not checked); negative instance ids; points beyond the map's
                extent; a weight outside (0, 1] or a truncation that is not a
                positive number of metres at least one voxel. Nothing is fused then.
        """
        T = self._check_frame(frame)
        cfg = self.config
        weight, trunc = self._check_weight_truncation(weight, truncation_m)
        depth = np.ascontiguousarray(frame.depth_m, np.float32)
        h, w = depth.shape
        K = frame.intrinsics
        grid = self._ray_grid(h, w, K)
        prepared = self._prepare_probs(frame, probs)
        inst_img = self._prepare_instances(frame, probs, instances)
        # Everything is computed from the frame first; the map changes only once the
        # frame is known to be fusable (the last check reads the class probabilities).

        R, o = np.ascontiguousarray(T[:3, :3]), np.ascontiguousarray(T[:3, 3])
        vs = cfg.voxel_size_m
        n_side = ratio_count(trunc, vs)
        n_off = 2 * n_side + 1
        # Per ray with valid depth (fine_rays): its measured point, incidence angle and
        # endpoint agreement, and the cells of its samples along the ray within
        # +-truncation of the surface (n_off a ray): the voxels this frame allocates.
        # Endpoint hits: the voxel holding each measured point. Things thinner than a voxel
        # (a lamp pole, chair legs) rarely have a voxel centre that projects onto their few
        # pixels, so the TSDF misses them; their endpoints do not. Flying pixels (isolated
        # readings between a foreground edge and the background) would leave false hits: an
        # endpoint counts only when a neighbouring pixel agrees and it lies between no two
        # surfaces.
        g = grid.v.shape[0]
        # Neighbouring rays mostly reach the same voxels: each distinct voxel is kept once,
        # at the last sample that reached it, and hashed once; each voxel gets exactly one
        # update per frame. ``centre``: the voxel of each ray's measured point.
        sc = self._frame_scratch(g, n_off)
        ok, d, surf, cos, agreed, hit_off, dirs, lohi = (
            sc.ok,
            sc.d,
            sc.surf,
            sc.cos,
            sc.agreed,
            sc.hit_off,
            sc.dirs,
            sc.lohi,
        )
        last, centre, keys, vcell, counts, lin, ray = sc.last, sc.centre, sc.keys, sc.vcell, sc.counts, sc.lin, sc.ray
        dc = self._distinct
        for _ in range(2):  # again after growing the scratch grid
            status = fk.fine_rays(
                depth, grid.v, grid.u, grid.cam_dir, grid.terms, grid.sides, grid.distinct, R, o,
                np.float32(cfg.min_depth_m), np.float32(cfg.max_depth_m), vs, 1.0 / vs, n_side, cfg.edge_step_px,
                np.float32(cfg.edge_jump / 2), np.float32(cfg.geometry_edge_jump),
                ok, d, surf, cos, agreed, hit_off, dirs, lohi, dc._grid, float(dc.max_grid_cells),
                lin, last, ray, centre, keys, vcell, counts,
            )  # fmt: skip
            if status != -1:
                break
            self._grow_scratch_grid(lohi)
        n_rays, m = int(counts[0]), int(counts[1])
        if status == 0:
            ray, centre, keys, vcell = ray[:m], centre[:n_rays], keys[:m], vcell[:m]
        else:  # a box larger than the scratch grid may be, or beyond the map's extent (raises)
            cell = np.empty((3, n_rays * n_off))
            fk.ray_cells(dirs, surf, n_rays, n_side, vs, 1.0 / vs, cell)
            centre_at = np.arange(n_rays, dtype=np.int64) * n_off + n_side
            last, centre, keys = self._distinct_keys(cell, n_rays * n_off, lohi, vs, centre_at)
            vcell, ray = np.ascontiguousarray(cell[:, last].T), last // n_off
            m = last.shape[0]

        # Projective signed distance of each voxel centre: read the depth at the pixel the
        # centre projects to (not at the ray that allocated it, which would bias the value
        # by up to half a voxel over the ray's angle to the surface), times the cosine of
        # the incidence angle of the ray that allocated it (surface normal from the depth
        # image): on a floor seen at 15 degrees, voxel centres half a voxel off the surface
        # would otherwise read two voxels off along the ray. Colour, classes and instances
        # go to the voxels within the label band of the surface; classes and instances
        # skip depth-edge pixels, whose depth may be a flying pixel between the object the
        # label names and the one behind.
        # Class probabilities (not labels or network-size ones) are read there too, at the
        # pixels of the labelled voxels (lab_p, "use"), and checked.
        vox, sdf, pix, near, labelled = sc.vox, sc.sdf, sc.pix, sc.near, sc.labelled
        c = cfg.num_classes
        # (C', H * W) views, whatever the strides: channels-last input is read in place too.
        direct = prepared is not None and prepared[0] in ("chw", "hwc")
        probs_in = _NO_PROBS if not direct else prepared[1] if prepared[0] == "chw" else prepared[1].T
        lab_p = sc.class_rows(m, c) if direct else _NO_PROBS
        lab_counts = sc.lab_counts
        # Probabilities raised to min_prob as they are read, unless instances need their argmax.
        clip = np.float32(cfg.min_prob if inst_img is None else 0.0)
        n_upd = fk.project_voxels(
            vcell, ray, m, cos, vs, o, R, K.fx, K.fy, K.cx, K.cy, depth,
            np.float32(cfg.geometry_edge_jump), cfg.min_depth_m, cfg.max_depth_m, trunc, cfg.label_band_voxels * vs,
            prepared is not None or inst_img is not None, cfg.edge_step_px, np.float32(cfg.edge_jump),
            vox, sdf, pix, near, labelled, probs_in, _MAX_PROB, clip, sc.lab_pix, sc.lab_vox, lab_p, sc.use, lab_counts,
        )  # fmt: skip
        vox, sdf, pix, near, labelled = vox[:n_upd], sdf[:n_upd], pix[:n_upd], near[:n_upd], labelled[:n_upd]
        n_lab = int(lab_counts[0])
        use = _NO_USE
        lp = _NO_PROBS
        seg_class = pix_l = None
        if prepared is not None or inst_img is not None:
            pix_l = sc.lab_pix[:n_lab]
            if prepared is not None:
                if direct:
                    p, use = lab_p[:n_lab], sc.use[:n_lab]
                    if not lab_counts[1]:  # raises, naming the values read
                        _check_probabilities(np.ascontiguousarray(probs_in[:, pix_l]))
                else:
                    p, use = self._probs_at(prepared, pix_l)
                if inst_img is not None:
                    seg_class = np.where(use, p.argmax(axis=1), 0)
                # In place where p is integrate's scratch (class_probs) and every pixel counts.
                own = direct and use.all()
                lp = p if own else p[use]
                if not (direct and clip > 0):  # else raised to min_prob already; lp is p's copy unless own
                    lp = np.maximum(lp, cfg.min_prob, out=lp)
                np.log(lp, out=lp)
                if weight != 1.0:
                    lp *= weight

        # ---- the map changes from here on
        rows_u = self._hash.insert(keys, reserve=n_rays * n_off, distinct=True)
        self._ensure_capacity(len(self._hash))
        fk.fuse_voxels(
            rows_u, centre, agreed[:n_rays], hit_off[:n_rays], sc.sums, vox, sdf, pix, near, labelled, use,
            np.ascontiguousarray(frame.rgb).reshape(-1, 3), np.ascontiguousarray(lp, np.float32), np.float32(weight),
            1.0 / (trunc if trunc == cfg.truncation_m else cfg.truncation_m), trunc != cfg.truncation_m,
            np.float32(cfg.max_weight), np.float32(cfg.min_log_evidence),
            self._tsdf, self._weight, self._color, self._color_weight, self._hits, self._hit_offset,
            self._hit_weight, self._logev, self._class_weight,
        )  # fmt: skip
        if inst_img is not None:
            rn = rows_u.take(vox.take(sc.lab_vox[:n_lab]))
            self._fuse_instances(rn, inst_img.reshape(-1).take(pix_l).astype(np.int64), seg_class)
        self._carve_free(frame, T, weight, trunc)
        self._record_camera(o)
        self.frames_integrated += 1
        self.version += 1

    def _frame_scratch(self, g: int, n_off: int) -> _FrameScratch:
        """``integrate``'s work arrays for ``g`` rays of ``n_off`` samples (kept while they
        are large enough)."""
        sc = self._scratch
        if sc is None or sc.rays < g or sc.samples < g * n_off:
            g_max, s_max = (g, g * n_off) if sc is None else (max(g, sc.rays), max(g * n_off, sc.samples))
            sc = self._scratch = _FrameScratch(g_max, s_max)
        return sc

    def _grow_scratch_grid(self, lohi: np.ndarray) -> None:
        """Make the scratch grid of ``DistinctCells`` cover a box of cells with bounds
        ``lohi`` (2, 3) (at least doubling it)."""
        dc = self._distinct
        volume = int(np.prod(lohi[1] - lohi[0] + 1.0))
        if dc._grid.shape[0] < volume:
            dc._grid = np.empty(max(volume, 2 * dc._grid.shape[0]), np.int32)

    def _distinct_keys(
        self, cells: np.ndarray, s: int, lohi: np.ndarray, cell_m: float, at: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The distinct cells among the first ``s`` columns of ``cells`` (3, >= s) float64
        (bounds ``lohi`` (2, 3)): (last (M,) int64 positions of their last occurrences in
        increasing order, (A,) int64 index into ``last`` of the cell at each position of
        ``at`` (None without), (M,) int64 hash keys). In the owner's dense scratch grid when
        the cells' box fits it, else ``DistinctCells``' sorting path.

        Raises:
            InputError: cells outside the representable range (``keys_from_cells``).
        """
        if s == 0:
            return np.zeros(0, np.int64), (None if at is None else np.zeros(0, np.int64)), np.zeros(0, np.int64)
        lo, hi = lohi.tolist()
        extent = [b - a + 1.0 for a, b in zip(lo, hi)]
        volume = extent[0] * extent[1] * extent[2]
        dc = self._distinct
        if not (min(lo) >= -AXIS_RANGE_VOXELS and max(hi) < AXIS_RANGE_VOXELS and volume <= dc.max_grid_cells):
            view = cells[:, :s]
            last, at_idx = dc.last_occurrences(np.ascontiguousarray(view), cell_m, at)
            return last, at_idx, keys_from_cells(view[:, last].T, cell_m)
        if dc._grid.shape[0] < volume:
            self._grow_scratch_grid(lohi)
        at_arr = np.zeros(0, np.int64) if at is None else at
        last = np.empty(s, np.int64)
        at_idx = np.empty(at_arr.shape[0], np.int64)
        keys = np.empty(s, np.int64)
        m = fk.distinct_cells(
            cells,
            s,
            lohi[0].copy(),
            extent[1],
            extent[2],
            dc._grid,
            np.empty(s, np.int64),
            at_arr,
            last,
            at_idx,
            keys,
        )
        return last[:m], (None if at is None else at_idx), keys[:m]

    def _check_weight_truncation(self, weight, truncation_m) -> tuple[float, float]:
        """``integrate``'s per-frame weight in (0, 1] and truncation (metres, at least one
        voxel; None: the map's)."""
        if truncation_m is None and type(weight) is float and 0.0 < weight <= 1.0:  # the usual call
            return weight, self.config.truncation_m
        w = real_number(weight, "SemanticMap.integrate: weight")
        if not 0.0 < w <= 1.0:
            raise InputError(f"SemanticMap.integrate: expected a weight in (0, 1], got {w!r}")
        if truncation_m is None:
            return w, self.config.truncation_m
        t = real_number(truncation_m, "SemanticMap.integrate: truncation_m", "m")
        if not t >= self.config.voxel_size_m:
            raise InputError(
                f"SemanticMap.integrate: expected truncation_m >= the voxel size "
                f"({self.config.voxel_size_m} m), got {t!r}"
            )
        return w, t

    def _fuse_hits(self, rows: np.ndarray, voxel: np.ndarray, offset: np.ndarray, weight: float = 1.0) -> None:
        """Count this frame's endpoint hits and average where they lie.

        ``rows``: (M,) map rows of the frame's distinct voxels; ``voxel``: (A,) index into
        ``rows`` of the voxel each agreed endpoint fell in; ``offset``: (A, 3) float64 its
        position in that voxel relative to the centre, voxel units. Each hit voxel counts
        once and its mean offset this frame joins the voxel's running mean (capped weight).
        """
        m = rows.shape[0]
        n_per = np.bincount(voxel, minlength=m)
        hit = n_per.nonzero()[0]
        if hit.size == 0:
            return
        hit_rows = rows.take(hit)
        self._hits[hit_rows] += weight
        # Per voxel and axis, in one pass: bin 3 * voxel + axis (sums in endpoint order).
        bins = (3 * voxel)[:, None] + np.arange(3)
        sums = np.bincount(bins.ravel(), offset.ravel(), minlength=3 * m).reshape(m, 3)
        mean_off = sums.take(hit, axis=0) / n_per.take(hit)[:, None]
        hw = np.minimum(self._hit_weight[hit_rows] + weight, self.config.max_weight)
        o_old = self._hit_offset[hit_rows]
        self._hit_offset[hit_rows] = o_old + ((mean_off.astype(np.float32) - o_old) * weight) / hw[:, None]
        self._hit_weight[hit_rows] = hw

    def _fuse_instances(self, rows: np.ndarray, seg: np.ndarray, pix_class: np.ndarray | None) -> None:
        """Associate this frame's segments with map instances and vote (see module doc).

        ``rows`` are unique voxel rows, ``seg`` their pixels' segment ids, ``pix_class``
        their pixels' class ids (or None)."""
        cfg = self.config
        keep = seg > 0
        rows, seg = rows[keep], seg[keep]
        if rows.size == 0:
            return
        segs, seg_idx = np.unique(seg, return_inverse=True)
        n_seg = segs.shape[0]
        # Class of each segment: the majority class of its pixels (0 when unknown).
        if pix_class is None:
            cls = np.zeros(n_seg, np.int64)
        else:
            c = self.config.num_classes
            votes = np.bincount(seg_idx * c + pix_class[keep], minlength=n_seg * c).reshape(n_seg, c)
            votes[:, 0] = 0
            cls = np.where(votes.max(axis=1) > 0, votes.argmax(axis=1), 0)
        cur = self._instance[rows].astype(np.int64)
        has = cur > 0
        n_vox = np.bincount(seg_idx, minlength=n_seg)
        assigned = np.zeros(n_seg, np.int64)
        if has.any():
            pair, cnt = np.unique(seg_idx[has] * (1 << 32) + cur[has], return_counts=True)
            ps, pm = pair >> 32, pair & ((1 << 32) - 1)
            inst_cls = self._instance_class[pm].astype(np.int64)
            ok = (
                (cnt >= cfg.instance_min_voxels)
                & (cnt >= cfg.instance_min_overlap * n_vox[ps])
                & ((inst_cls == 0) | (cls[ps] == 0) | (inst_cls == cls[ps]))
            )
            used: set[int] = set()
            # Greedy one-to-one: the largest overlaps first.
            for k in np.argsort(-cnt, kind="stable"):
                if not ok[k] or assigned[ps[k]] or int(pm[k]) in used:
                    continue
                assigned[ps[k]] = pm[k]
                used.add(int(pm[k]))
        new = np.flatnonzero(assigned == 0)
        if new.size:
            first = self._instance_class.shape[0]
            assigned[new] = np.arange(first, first + new.size)
            self._instance_class = np.concatenate([self._instance_class, cls[new].astype(np.uint8)])
        # Unknown classes are learnt from the first segment that knows one.
        unknown = self._instance_class[assigned] == 0
        self._instance_class[assigned[unknown]] = cls[unknown].astype(np.uint8)
        target = assigned[seg_idx]
        votes = self._instance_votes[rows]
        same = cur == target
        votes = np.where(same, np.minimum(votes + 1.0, cfg.max_instance_votes), votes - 1.0)
        flip = votes <= 0
        cur = np.where(flip, target, cur)
        votes = np.where(flip, 1.0, votes)
        self._instance[rows] = cur.astype(np.int32)
        self._instance_votes[rows] = votes.astype(np.float32)

    @property
    def num_instances(self) -> int:
        """Map instances created so far (ids 1 .. num_instances)."""
        return int(self._instance_class.shape[0] - 1)

    def _carve_free(self, frame: Frame, T: np.ndarray, weight: float = 1.0, trunc: float | None = None) -> None:
        """Count the coarse cells crossed by every ``free_stride``-th pixel's ray, from the
        camera up to one truncation before its reading (once per cell and frame)."""
        cfg = self.config
        trunc = cfg.truncation_m if trunc is None else trunc
        s = cfg.free_stride
        depth = np.ascontiguousarray(frame.depth_m, np.float32)
        h, w = depth.shape
        cam = self._camera_rays(h, w, s, frame.intrinsics)
        # Invalid or too-far readings: the ray is still free up to max range only if we
        # trust "no return" -- we do not, so such rays carve nothing. One count per cell
        # per frame, however many samples fell into it.
        fv = cfg.free_voxel_size_m
        dc = self._distinct
        status, n_s, cells, lohi, keys = fk.free_cells(
            depth, s, cam, np.ascontiguousarray(T[:3, :3]), np.ascontiguousarray(T[:3, 3]), trunc,
            cfg.min_depth_m, cfg.max_depth_m, fv, 1.0 / fv, dc._grid, float(dc.max_grid_cells),
        )  # fmt: skip
        if n_s == 0:
            return
        if status != 0:  # a box larger than the scratch grid, or beyond the map's extent (raises)
            _, _, keys = self._distinct_keys(cells, n_s, lohi, fv)
        rows = self._free.insert(keys, reserve=n_s, distinct=True)
        self._ensure_free_capacity(len(self._free))
        self._free_count[rows] += weight

    # ------------------------------------------------------------------ queries
    def lookup_rows(self, points_world: np.ndarray) -> np.ndarray:
        """Row ids (into ``voxel_arrays``) of the fine voxels holding (N, 3) world points;
        -1 where no voxel is allocated. (N,) int64."""
        p = real_array(points_world, "SemanticMap: query points")
        if p.ndim != 2 or p.shape[1] != 3:
            raise InputError(f"SemanticMap: expected points (N, 3) world metres, got {describe_array(p)}")
        if not np.isfinite(p).all():
            raise InputError("SemanticMap: query points contain NaN or inf")
        return self._hash.lookup(pack_floor(p, self.config.voxel_size_m))

    def class_posterior(self, rows: np.ndarray) -> np.ndarray:
        """(N, C) float32 class posterior of map rows (void channel included)."""
        ev = self._logev[rows]
        e = np.exp(ev - ev.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def label_entropy(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(R,) float32 normalised entropy in [0, 1] of the fused class posterior of map rows
        (all rows when None), over the map classes (void left out): 0 when one class holds
        all the evidence, 1 when the classes are equally likely. Rows without class
        evidence get 1. The fusion's, whatever refinement is set.

        Raises:
            InputError: a row outside the map.
        """
        rows = np.arange(len(self)) if rows is None else np.asarray(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise InputError(f"label_entropy: expected (R,) integer rows, got {describe_array(rows)}")
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise InputError(f"label_entropy: rows must be in 0..{len(self) - 1}")
        post = self.class_posterior(rows)[:, 1:].astype(np.float64)
        post /= np.maximum(post.sum(axis=1, keepdims=True), 1e-30)
        h = normalized_entropy(post, axis=1)
        h[self._class_weight[rows] <= 0] = 1.0
        return h

    # ------------------------------------------------------------------ refinement
    @property
    def refinement(self) -> MapRefinement | None:
        """The last ``set_refinement`` (None: labels come from the fusion alone)."""
        return self._refinement

    def set_refinement(self, refinement: MapRefinement | None) -> None:
        """Use a 3D network's labels (and instances) for the rows it covers (see
        ``real3d.core.refinement``); None goes back to the fusion's. The fused evidence
        is not changed. Bumps ``version``.

        Raises:
            InputError: not a MapRefinement, or one covering more rows than the map has.
        """
        if refinement is not None:
            if not isinstance(refinement, MapRefinement):
                raise InputError(f"set_refinement: expected a MapRefinement or None, got {type(refinement).__name__}")
            if len(refinement) > len(self):
                raise InputError(f"set_refinement: covers {len(refinement)} rows, the map has {len(self)}")
            if len(refinement) and int(refinement.labels.max()) >= self.config.num_classes:
                raise InputError(
                    f"set_refinement: label {int(refinement.labels.max())} >= num_classes {self.config.num_classes}"
                )
        self._refinement = refinement
        self.version += 1

    def fused_labels(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The fusion's (labels (R,) uint8, 0 = no class evidence; confidence (R,) float32)
        of map rows (all rows when None), whatever refinement is set."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, np.int64)
        return self._labels_of_rows(rows, use_refinement=False)

    def instances_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) int32 instance ids of map rows: the refinement's where it has
        instances (rows it does not cover get 0), else the fused 2D instances."""
        rows = np.asarray(rows, np.int64)
        r = self._refinement
        if r is None or r.instances is None:
            return self._instance[rows].copy()
        out = np.zeros(rows.shape[0], np.int32)
        has = rows < len(r)
        out[has] = r.instances[rows[has]]
        return out

    def _labels_of_rows(self, rows: np.ndarray, use_refinement: bool = True) -> tuple[np.ndarray, np.ndarray]:
        post = self.class_posterior(rows)
        post[:, 0] = 0.0  # void is "no evidence", never a map class
        lab = post.argmax(axis=1).astype(np.uint8)
        conf = post[np.arange(rows.shape[0]), lab].astype(np.float32)
        none = self._class_weight[rows] <= 0
        lab[none] = 0
        conf[none] = 0.0
        r = self._refinement if use_refinement else None
        if r is not None:
            has = rows < len(r)
            lab[has] = r.labels[rows[has]]
            conf[has] = r.confidence[rows[has]]
        return lab, conf

    def query_labels(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class and confidence at world points.

        Args:
            points_world: (N, 3) float world metres.

        Returns:
            (labels (N,) uint8, 0 where the voxel is unmapped or has no class evidence;
            confidence (N,) float32 posterior probability of that class, 0 where none).
        """
        rows = self.lookup_rows(points_world)
        lab = np.zeros(rows.shape[0], np.uint8)
        conf = np.zeros(rows.shape[0], np.float32)
        hit = rows >= 0
        if hit.any():
            lab[hit], conf[hit] = self._labels_of_rows(rows[hit])
        return lab, conf

    def query_occupancy(self, points_world: np.ndarray) -> np.ndarray:
        """Ternary occupancy at world points: 1 occupied, 0 free, -1 unknown ((N,) int8).

        A fine voxel decides where it exists: occupied when its centre lies less than half a
        voxel in front of the surface or behind it, free otherwise. Elsewhere a coarse cell
        crossed by a ray means free; everything else is unknown.
        """
        rows = self.lookup_rows(points_world)
        out = np.full(rows.shape[0], UNKNOWN, np.int8)
        hit = rows >= 0
        hit[hit] = self._weight[rows[hit]] > 0
        sdf = self._tsdf[rows[hit]] * self.config.truncation_m
        out[hit] = np.where(sdf < 0.5 * self.config.voxel_size_m, OCCUPIED, FREE)
        rest = np.flatnonzero(~hit)
        if rest.size:
            p = np.asarray(points_world, dtype=np.float64)[rest]
            fr = self._free.lookup(pack_floor(p, self.config.free_voxel_size_m))
            free = fr >= 0
            free[free] = self._free_count[fr[free]] > 0
            out[rest[free]] = FREE
        return out

    def voxel_centers(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(N, 3) float64 world centres of map rows (all rows if None)."""
        keys = self._hash.keys if rows is None else self._hash.keys[rows]
        return (unpack_keys(keys) + 0.5) * self.config.voxel_size_m

    def surface_rows(self, band_voxels: float = 1.0, min_weight: float = 1.0) -> np.ndarray:
        """Row ids of voxels on the surface: |sdf| <= band_voxels * voxel_size and weight >= min_weight."""
        n = len(self)
        cfg = self.config
        band = band_voxels * cfg.voxel_size_m / cfg.truncation_m
        m = (np.abs(self._tsdf[:n]) <= band) & (self._weight[:n] >= min_weight)
        return np.flatnonzero(m)

    def sdf_gradient(self, rows: np.ndarray) -> np.ndarray:
        """(N, 3) float64 gradient of the signed distance (metres per metre, world frame) at
        map rows; its direction is the surface normal.

        Central differences over the 6-neighbourhood, one-sided where a neighbour is missing
        or unobserved; zero along an axis without observed neighbours. The stored distance
        is measured along camera rays, so the magnitude is >= 1 at oblique views.
        """
        t0 = self._tsdf[rows].astype(np.float64)
        grad = np.zeros((rows.shape[0], 3))
        nb = self._neighbour_tsdf(rows)
        for axis in range(3):
            (op, vp), (om, vm) = nb[2 * axis], nb[2 * axis + 1]
            vp, vm = np.where(op, vp, 0.0), np.where(om, vm, 0.0)
            g = np.where(op & om, 0.5 * (vp - vm), np.where(op, vp - t0, np.where(om, t0 - vm, 0.0)))
            grad[:, axis] = g
        return grad * (self.config.truncation_m / self.config.voxel_size_m)

    def _neighbour_tsdf(self, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """For the 6-neighbours of map rows, in the order +x, -x, +y, -y, +z, -z: (observed
        (N,) bool, tsdf (N,), meaningless where not observed)."""
        keys = self._hash.keys[rows]
        n = len(self)
        out = []
        for step in (1 << 34, 1 << 17, 1):
            for sign in (1, -1):
                r = self._hash.lookup(keys + sign * step)
                ok = r >= 0
                ok[ok] = self._weight[r[ok]] > 0
                out.append((ok, self._tsdf[np.where(ok, r, 0) % max(n, 1)]))
        return out

    def zero_crossing(self, rows: np.ndarray, max_jump_m: float | None = None) -> np.ndarray:
        """(N,) bool: map rows the zero level passes next to: the voxel's tsdf is 0, or an
        observed 6-neighbour's tsdf has the opposite sign, with the signed distances of the
        two differing by at most ``max_jump_m`` (default two voxels). A voxel behind a
        surface (or in front of one) without such a neighbour lies somewhere in the
        truncation band, even where its averaged value is near 0; and where the end of one
        surface's band meets what views from the far side saw in front of nothing (-0.13 m
        next to +0.15 m), the sign flips without a surface between."""
        jump = (2 * self.config.voxel_size_m if max_jump_m is None else max_jump_m) / self.config.truncation_m
        rows = np.asarray(rows, np.int64)
        t0 = self._tsdf[rows]
        out = t0 == 0
        for ok, t in self._neighbour_tsdf(rows):
            out |= ok & ((t >= 0) != (t0 >= 0)) & (np.abs(t - t0) <= jump)
        return out

    def semantic_points(
        self,
        band_voxels: float = 1.0,
        min_weight: float = 1.0,
        snap: bool = True,
        measured: bool = False,
        use_refinement: bool = True,
    ) -> SemanticPoints:
        """Surface voxels as a labelled point cloud (see ``SemanticPoints``).

        With ``snap`` each voxel centre takes one Newton step onto the zero level,
        ``p - sdf * g / |g|^2`` with g the sdf gradient (clamped to ``band_voxels`` voxels),
        which removes the half-voxel quantisation of the centres; the wider band then
        leaves no holes on oblique surfaces. With ``measured`` (and ``snap``), voxels that
        measured points fell in take the mean of those points instead: it is exact across
        the surface, where the snapped centre keeps the voxel grid's quantisation (an object
        a voxel and a half wide spans two or three voxel centres), but noisier along the
        normal (a voxel's few endpoints against the TSDF's many rays), so the scene graph
        fits boxes to it while the point cloud and its evaluation keep the snapped centres.
        With ``use_refinement`` False the labels are the fusion's even where a refinement
        is set (``set_refinement``).
        """
        rows = self.surface_rows(band_voxels, min_weight)
        lab, conf = self._labels_of_rows(rows, use_refinement)
        centres = self.voxel_centers(rows)
        pts = centres
        normals = None
        if snap and rows.size:
            g = self.sdf_gradient(rows)
            g2 = (g * g).sum(axis=1)
            sdf = self._tsdf[rows].astype(np.float64) * self.config.truncation_m
            step = np.divide(sdf, g2, out=np.zeros_like(sdf), where=g2 > 1e-6)[:, None] * g
            limit = band_voxels * self.config.voxel_size_m
            n = np.linalg.norm(step, axis=1, keepdims=True)
            pts = centres - step * np.minimum(1.0, limit / np.maximum(n, 1e-12))
            gn = np.sqrt(g2)[:, None]
            normals = np.divide(g, gn, out=np.zeros_like(g), where=gn > 1e-6)
            if measured:
                has = self._hit_weight[rows] > 0
                pts[has] = centres[has] + self._hit_offset[rows[has]] * self.config.voxel_size_m
        return SemanticPoints(
            points=pts,
            labels=lab,
            confidence=conf,
            colors=np.clip(np.round(self._color[rows]), 0, 255).astype(np.uint8),
            tsdf=self._tsdf[rows].copy(),
            weight=self._weight[rows].copy(),
            rows=rows,
            normals=normals,
        )

    def free_cells(self, min_count: float = 1.0) -> tuple[np.ndarray, float]:
        """Centres of coarse cells observed free: ((M, 3) float64 world metres, cell size m)."""
        n = len(self._free)
        rows = np.flatnonzero(self._free_count[:n] >= min_count)
        fv = self.config.free_voxel_size_m
        return (unpack_keys(self._free.keys[rows]) + 0.5) * fv, fv


def _bilinear_at(flat: np.ndarray, frame_hw: tuple[int, int], net_hw: tuple[int, int], pix: np.ndarray) -> np.ndarray:
    """(C, N) float32 values of the (C, h * w) network-size image ``flat`` at flat frame
    pixel indices ``pix``, bilinearly resampled as a resize from (h, w) to the frame's
    (H, W) with ``align_corners=False`` gives them (source coordinates clamped to the grid)."""
    (fh, fw), (h, w) = frame_hw, net_hw
    v, u = np.divmod(pix.astype(np.int64), fw)
    y = np.clip((v + 0.5) * (h / fh) - 0.5, 0.0, h - 1)
    x = np.clip((u + 0.5) * (w / fw) - 0.5, 0.0, w - 1)
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (y - y0).astype(np.float32), (x - x0).astype(np.float32)
    top = flat.take(y0 * w + x0, axis=1) * (1 - wx) + flat.take(y0 * w + x1, axis=1) * wx
    bottom = flat.take(y1 * w + x0, axis=1) * (1 - wx) + flat.take(y1 * w + x1, axis=1) * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32, copy=False)
