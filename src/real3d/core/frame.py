"""The Frame: one RGB-D observation with its camera, pose and optional ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.core.labels import get_label_set
from real3d.core.pose import check_pose
from real3d.core.values import real_number, whole_number


def _check_image(name: str, x, hw: tuple[int, int] | None, dtypes, channels: int | None) -> np.ndarray:
    """Check an image field; returns it C-contiguous (a copy only when it was not)."""
    if not isinstance(x, np.ndarray):
        raise InputError(f"Frame.{name}: expected a numpy array, got {type(x).__name__}")
    want_ndim = 2 if channels is None else 3
    if x.ndim != want_ndim or (channels is not None and x.shape[2] != channels):
        shape = "(H, W)" if channels is None else f"(H, W, {channels})"
        raise InputError(f"Frame.{name}: expected shape {shape}, got {describe_array(x)}")
    if x.dtype not in dtypes:
        raise InputError(
            f"Frame.{name}: expected dtype {' or '.join(str(np.dtype(d)) for d in dtypes)}, got {describe_array(x)}"
        )
    if hw is not None and x.shape[:2] != hw:
        raise InputError(
            f"Frame.{name}: expected size {hw[0]}x{hw[1]} (H x W) to match rgb, got {x.shape[0]}x{x.shape[1]}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"Frame.{name}: expected a non-empty image, got {describe_array(x)}")
    # Views with negative or gapped strides (a flipped or sliced image) work in numpy but
    # not in torch.from_numpy or onnxruntime further down.
    return np.ascontiguousarray(x)


@dataclass(frozen=True, eq=False)
class Frame:
    """One RGB-D frame.

    Attributes:
        rgb: (H, W, 3) uint8 colour image.
        depth_m: (H, W) float32 z-depth in metres, 0 = invalid; None for RGB-only frames.
            Must be finite and >= 0 (readers convert NaN/inf/negative to 0 at the boundary).
        intrinsics: pinhole intrinsics of the colour camera, size equal to rgb's.
        world_T_cam: (4, 4) float64 camera-to-world pose (p_world = world_T_cam @ p_cam),
            or None when unknown.
        timestamp_s: capture time in seconds.
        labels: optional (H, W) uint8 ground-truth labels of ``label_set`` (0 = void),
            each in [0, number of classes].
        instances: optional (H, W) int32 ground-truth instance ids (0 = none, >= 0).
        depth_clean_m: optional (H, W) float32 noise-free depth (synthetic data).
        normals_cam: optional (H, W, 3) float32 unit surface normals in the camera frame
            (finite; zero where unknown).
        index: position of the frame in its sequence (an integer >= 0).
        meta: free-form details from the reader (a dict).
        label_set: name of the label set of ``labels`` (``real3d.core.labels``),
            ``"nyu13"`` unless a reader was asked for another.

    Image arrays are kept C-contiguous (a strided view is copied once). Every field is
    checked when the Frame is built: a wrong type, shape, dtype or value range raises
    InputError naming the field, what was expected and what came.
    """

    rgb: np.ndarray
    depth_m: np.ndarray | None
    intrinsics: Intrinsics
    world_T_cam: np.ndarray | None = None
    timestamp_s: float = 0.0
    labels: np.ndarray | None = None
    instances: np.ndarray | None = None
    depth_clean_m: np.ndarray | None = None
    normals_cam: np.ndarray | None = None
    index: int = 0
    meta: dict = field(default_factory=dict)
    label_set: str = "nyu13"

    def __post_init__(self) -> None:
        def put(name: str, value) -> None:
            object.__setattr__(self, name, value)

        put("rgb", _check_image("rgb", self.rgb, None, (np.uint8,), 3))
        hw = self.rgb.shape[:2]
        if not isinstance(self.intrinsics, Intrinsics):
            raise InputError(f"Frame.intrinsics: expected real3d.Intrinsics, got {type(self.intrinsics).__name__}")
        if self.intrinsics.size_hw != hw:
            raise InputError(
                f"Frame: intrinsics are for {self.intrinsics.height}x{self.intrinsics.width} "
                f"(H x W) but rgb is {hw[0]}x{hw[1]}"
            )
        for name in ("depth_m", "depth_clean_m"):
            d = getattr(self, name)
            if d is None:
                continue
            d = _check_image(name, d, hw, (np.float32,), None)
            put(name, d)
            if not np.isfinite(d).all():
                raise InputError(
                    f"Frame.{name}: expected finite depth in metres (0 = invalid), found "
                    f"{int((~np.isfinite(d)).sum())} NaN/inf pixels"
                )
            if (d < 0).any():
                raise InputError(
                    f"Frame.{name}: expected depth >= 0 metres (0 = invalid), found "
                    f"{int((d < 0).sum())} negative pixels (min {float(d.min())})"
                )
        if not isinstance(self.label_set, str):
            raise InputError(f"Frame.label_set: expected a label set name, got {type(self.label_set).__name__}")
        if self.labels is not None:
            labels = _check_image("labels", self.labels, hw, (np.uint8,), None)
            put("labels", labels)
            try:
                n = get_label_set(self.label_set).num_classes
            except ConfigError as e:
                raise InputError(f"Frame.label_set: {e}") from None
            top = int(labels.max())
            if top > n:
                raise InputError(
                    f"Frame.labels: expected {self.label_set} ids in [0, {n}] ({n} classes, 0 = void), "
                    f"got a label {top}"
                )
        if self.instances is not None:
            inst = _check_image("instances", self.instances, hw, (np.int32,), None)
            put("instances", inst)
            if int(inst.min()) < 0:
                raise InputError(f"Frame.instances: expected ids >= 0 (0 = none), got {int(inst.min())}")
        if self.normals_cam is not None:
            normals = _check_image("normals_cam", self.normals_cam, hw, (np.float32,), 3)
            put("normals_cam", normals)
            if not np.isfinite(normals).all():
                raise InputError("Frame.normals_cam: expected finite unit normals (zero where unknown), found NaN/inf")
        if self.world_T_cam is not None:
            put("world_T_cam", check_pose(self.world_T_cam, "Frame.world_T_cam"))
        put("timestamp_s", real_number(self.timestamp_s, "Frame.timestamp_s", "seconds"))
        index = whole_number(self.index, "Frame.index")
        if index < 0:
            raise InputError(f"Frame.index: expected an integer >= 0, got {index}")
        put("index", index)
        if not isinstance(self.meta, dict):
            raise InputError(f"Frame.meta: expected a dict, got {type(self.meta).__name__}")

    @property
    def size_hw(self) -> tuple[int, int]:
        return self.rgb.shape[:2]

    @property
    def has_depth(self) -> bool:
        return self.depth_m is not None

    @property
    def has_pose(self) -> bool:
        return self.world_T_cam is not None

    def replace(self, **changes) -> Frame:
        """A copy with some fields replaced (validated again)."""
        from dataclasses import replace

        return replace(self, **changes)


def sanitize_depth(depth_m: np.ndarray) -> tuple[np.ndarray, int]:
    """Reader boundary: float32 depth with NaN, inf and negative values set to 0.

    Returns:
        (depth_m float32 (H, W), number of pixels that were invalidated).
    """
    d = np.asarray(depth_m, dtype=np.float32)
    bad = ~np.isfinite(d) | (d < 0)
    n = int(bad.sum())
    if n:
        d = d.copy()
        d[bad] = 0.0
    return d, n
