"""A fixed frame for the corruption tests (imported by name: pytest puts this folder on the path)."""

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.frame import Frame


def make_scene_frame(h: int = 48, w: int = 64, index: int = 3, labelled: bool = True) -> Frame:
    """A fixed frame with what every corruption acts on: textured colour, a black patch
    (dark-hole cue), a white highlight (specular cue), a box 1.5 m in front of a wall at
    3-4 m (depth edges), a few invalid depth pixels, labels, instances, normals, a pose."""
    rng = np.random.default_rng(11)
    v, u = np.mgrid[0:h, 0:w]
    rgb = np.stack([40 + u, 60 + v, 100 + (u + v) % 60], axis=-1).astype(np.float64)
    rgb += rng.normal(0, 6, rgb.shape)
    box = (v >= h // 4) & (v < 3 * h // 4) & (u >= w // 4) & (u < w // 2)
    rgb[box] = (180, 60, 40)
    rgb[: h // 6, : w // 5] = 8  # black patch
    rgb[h // 2 : h // 2 + 6, 3 * w // 4 : 3 * w // 4 + 8] = 250  # white highlight
    depth = (3.0 + u / w).astype(np.float32)
    depth[box] = 1.5
    depth[-2:, -3:] = 0.0
    labels = np.full((h, w), 1, np.uint8)
    labels[box] = 7
    labels[0, 0] = 0
    instances = box.astype(np.int32) * 4
    normals = np.zeros((h, w, 3), np.float32)
    normals[..., 2] = -1.0
    pose = np.eye(4)
    pose[:3, 3] = (1.0, 2.0, 1.3)
    return Frame(
        rgb=np.clip(rgb, 0, 255).astype(np.uint8),
        depth_m=depth,
        intrinsics=Intrinsics(60.0, 58.0, (w - 1) / 2 + 1.5, (h - 1) / 2 - 1.0, w, h),
        world_T_cam=pose,
        labels=labels if labelled else None,
        instances=instances,
        normals_cam=normals,
        index=index,
    )
