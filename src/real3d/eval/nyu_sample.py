"""The one real labelled NYUv2 frame kept in the shared data (``data/real/nyuv2_train_sample``
beside the repository): colour, NYUv2-13 labels and a depth known only up to scale.

The sample's depth is a 0-255 relative map at 682x512. It is resized to 640x480 (nearest)
and mapped linearly to 0-10 m, the Kinect range NYUv2 was normalised to, so RGB-D figures on
it are indicative only. The camera is NYU's colour camera (``real3d.io.nyu``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: files of the sample folder
RGB_FILE = "rgb_640x480.png"
LABELS_FILE = "decoded_label13_640x480.png"
DEPTH_FILE = "decoded_relative_depth_0-255_682x512.png"
#: metres the relative depth's 255 stands for
DEPTH_RANGE_M = 10.0


def nyu_sample_dir(repo_root: str | Path) -> Path:
    """Where the shared data keep the sample for a checkout at ``repo_root``."""
    from real3d.io.real_samples import real_samples_dir

    return real_samples_dir(repo_root) / "nyuv2_train_sample"


def load_nyu_sample(root: str | Path):
    """The sample as a ``Frame``: rgb (480, 640, 3) uint8, depth_m (480, 640) float32 in
    [0, 10] metres (relative depth scaled), labels (480, 640) uint8 NYUv2-13, intrinsics of
    NYU's colour camera. Raises ``FileNotFoundError`` when a file is missing."""
    from PIL import Image

    from real3d.core import Frame
    from real3d.io.nyu import NYU_COLOR_INTRINSICS

    root = Path(root)
    rgb = np.array(Image.open(root / RGB_FILE).convert("RGB"))
    labels = np.array(Image.open(root / LABELS_FILE)).astype(np.uint8)
    rel = Image.open(root / DEPTH_FILE).resize((640, 480), Image.NEAREST)
    depth_m = np.asarray(rel, dtype=np.float32) / 255.0 * DEPTH_RANGE_M
    return Frame(rgb=rgb, depth_m=depth_m, intrinsics=NYU_COLOR_INTRINSICS, labels=labels)
