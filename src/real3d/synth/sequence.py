"""Rendering sequences: a scene, a camera path, and frames with ground truth."""

from __future__ import annotations

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.errors import InputError
from real3d.core.frame import Frame
from real3d.synth.render import RenderConfig, Renderer
from real3d.synth.scene import SCENE_KINDS, generate_scene
from real3d.synth.textures import TextureBank
from real3d.synth.trajectory import TRAJECTORY_MODES, trajectory
from real3d.synth.types import SyntheticSequence


def check_size(size) -> tuple[int, int]:
    """Validate an image size given as (H, W) ints (both 16..4096)."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"expected size as (H, W) integers, got {size!r}") from None
    if not (16 <= h <= 4096 and 16 <= w <= 4096) or (h, w) != tuple(size):
        raise InputError(f"expected size (H, W) with 16 <= H, W <= 4096, got {size!r}")
    return h, w


def random_intrinsics(rng: np.random.Generator, size: tuple[int, int]) -> Intrinsics:
    """Intrinsics of an RGB-D camera of the Kinect/RealSense class at ``size`` (H, W):
    horizontal FOV 55-72 degrees, principal point within 2 % of the centre."""
    h, w = size
    hfov = np.deg2rad(rng.uniform(55.0, 72.0))
    f = 0.5 * w / np.tan(0.5 * hfov)
    fy = f * rng.uniform(0.995, 1.005)
    cx = (w - 1) / 2 + rng.uniform(-0.02, 0.02) * w
    cy = (h - 1) / 2 + rng.uniform(-0.02, 0.02) * h
    return Intrinsics(f, fy, cx, cy, w, h)


class SyntheticStream:
    """A synthetic sequence rendered on demand, frame by frame.

    The scene, the camera path and the intrinsics are made at construction; indexing
    renders one frame (deterministic in ``(seed, n_frames, index)``), and nothing is kept,
    so a few hundred frames cost the memory of one. ``generate_sequence`` is this stream
    rendered in full. Supports ``len``, indexing and iteration; ``scene`` is the
    ``SceneGT``. Arguments as for :func:`generate_sequence`.
    """

    def __init__(
        self,
        seed: int,
        n_frames: int,
        size=(240, 320),
        kind: str = "home",
        noise: bool = True,
        *,
        mode: str = "robot",
        fps: float = 15.0,
        bank: TextureBank | None = None,
        render_config: RenderConfig | None = None,
    ):
        if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or not 1 <= n_frames <= 100000:
            raise InputError(f"synthetic sequence: expected 1 <= n_frames <= 100000, got {n_frames!r}")
        h, w = check_size(size)
        if kind not in SCENE_KINDS:
            raise InputError(f"synthetic sequence: unknown kind {kind!r}; valid: {', '.join(SCENE_KINDS)}")
        if mode not in TRAJECTORY_MODES:
            raise InputError(f"synthetic sequence: unknown mode {mode!r}; valid: {', '.join(TRAJECTORY_MODES)}")
        if not fps > 0:
            raise InputError(f"synthetic sequence: expected fps > 0, got {fps}")
        self.seed, self.n_frames, self.size_hw, self.noise = int(seed), int(n_frames), (h, w), bool(noise)
        self.scene = generate_scene(self.seed, kind)
        self._renderer = Renderer(self.scene, bank if bank is not None else TextureBank(0), render_config)
        ss = np.random.SeedSequence([self.seed, 303, self.n_frames])
        traj_rng, cam_rng, _ = (np.random.default_rng(s) for s in ss.spawn(3))
        self.poses, self.times = trajectory(self.scene, self.n_frames, traj_rng, mode=mode, fps=fps)
        self.intrinsics = random_intrinsics(cam_rng, self.size_hw)

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, i: int) -> Frame:
        if not -self.n_frames <= i < self.n_frames:
            raise IndexError(f"frame {i} out of range for {self.n_frames} frames")
        i = int(i) % self.n_frames
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 304, i]))
        return self._renderer.render(
            self.poses[i], self.intrinsics, rng, noise=self.noise, timestamp_s=self.times[i], index=i
        )

    def __iter__(self):
        for i in range(self.n_frames):
            yield self[i]

    def sensor_frame(self, i: int) -> Frame:
        """Frame ``i`` as a sensor gives it: rgb, depth, intrinsics, pose and time only (no
        ground truth), e.g. to keep many frames in memory for a benchmark."""
        f = self[i]
        return Frame(
            rgb=f.rgb,
            depth_m=f.depth_m,
            intrinsics=f.intrinsics,
            world_T_cam=f.world_T_cam,
            timestamp_s=f.timestamp_s,
            index=f.index,
        )


def generate_sequence(
    seed: int,
    n_frames: int,
    size=(240, 320),
    kind: str = "home",
    noise: bool = True,
    *,
    mode: str = "robot",
    fps: float = 15.0,
    bank: TextureBank | None = None,
    render_config: RenderConfig | None = None,
) -> SyntheticSequence:
    """Generate a scene and render ``n_frames`` along a camera path through it.

    Args:
        seed: any int; the same arguments give the same bytes.
        n_frames: number of frames (1..100000).
        size: (H, W) image size in pixels.
        kind: ``"home"`` or ``"warehouse"``.
        noise: camera effects and depth sensor noise; False gives clean images and depth.
        mode: ``"robot"`` or ``"handheld"`` camera motion.
        fps: frame rate; timestamps are ``index / fps``.
        bank: textures to use; a ``TextureBank(0)`` is built when None (about 1 s).
        render_config: rendering settings.

    Returns:
        SyntheticSequence: frames (``Frame`` with labels, instances, clean depth, normals,
        pose and intrinsics) and ``.scene`` (mesh, objects, relations, rooms, occupancy).
        :class:`SyntheticStream` gives the same frames rendered on demand.
    """
    stream = SyntheticStream(
        seed, n_frames, size, kind, noise, mode=mode, fps=fps, bank=bank, render_config=render_config
    )
    return SyntheticSequence(frames=list(stream), scene=stream.scene)
