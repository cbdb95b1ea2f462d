"""Write ``fusion_reference.npz``: a few small data-engine frames and the maps
``SemanticMap.integrate`` fused from them, one per case of ``CASES``.

The stored maps are the behaviour that ``tests/mapping/test_fusion_reference.py`` holds
every faster fusion to. They were written by the straightforward fusion from before its
rewrite for speed (the ``src`` of commit 46a3667 on the path); regenerate them only for a
deliberate change of what fusion computes, and say so in the commit:

    PYTHONPATH=src python tests/mapping/data/make_fusion_reference.py

The frames are stored too (depth, colour, labels, instances, intrinsics, poses), so the
reference does not depend on the data engine staying the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("fusion_reference.npz")
SIZE = (48, 64)
N_FRAMES = 6

# name: (map settings, what integrate gets: "probs14" the segmenter's (14, H, W) layout,
# "labels" ground truth (frame labels and instances), "probs13_hwc_inst" channels-last
# probabilities without void plus explicit instances, "none" geometry only)
CASES = {
    "pipeline": ({"voxel_size_m": 0.05, "truncation_m": 0.15, "pixel_stride": 4}, "probs14"),
    "ground_truth": (
        {"pixel_stride": 3, "max_weight": 3.0, "max_instance_votes": 2.0, "free_stride": 5},
        "labels",
    ),
    "wide_band_no_edges": (
        {
            "voxel_size_m": 0.06,
            "truncation_m": 0.12,
            "pixel_stride": 2,
            "geometry_edge_jump": 0.0,
            "label_band_voxels": 2.0,
            "label_smoothing": 0.0,
        },
        "probs13_hwc_inst",
    ),
    "geometry": ({"pixel_stride": 5, "free_stride": 7, "free_voxel_size_m": 0.15}, "none"),
    "edge_step_3": ({"pixel_stride": 3, "edge_step_px": 3, "label_band_voxels": 1.5, "voxel_size_m": 0.07}, "probs14"),
    "every_pixel_edge_step_1": (
        {"pixel_stride": 1, "edge_step_px": 1, "voxel_size_m": 0.1, "truncation_m": 0.2, "free_stride": 3},
        "labels",
    ),
}


def class_probs(labels: np.ndarray, index: int) -> np.ndarray:
    """(14, H, W) float32 class probabilities peaked at ``labels`` (void 0 -> wall), made
    with integer arithmetic and one float32 division so that every platform gets the same
    values: channel 0 is 0, channels 1..13 sum to 1 (up to rounding)."""
    h, w = labels.shape
    c = np.arange(14)[:, None, None]
    v = np.arange(h)[None, :, None]
    u = np.arange(w)[None, None, :]
    q = 1 + (v * 7 + u * 13 + c * 31 + index * 17) % 23
    lab = np.where(labels == 0, 12, labels)
    q = q + 150 * (c == lab[None]) + 40 * (c == (lab[None] % 13) + 1)
    q[0] = 0
    q = q.astype(np.float32)
    return q / q.sum(axis=0, keepdims=True)


def frames_arrays() -> dict[str, np.ndarray]:
    from real3d.synth.sequence import SyntheticStream

    src = SyntheticStream(5, 40, size=SIZE, kind="home")
    frames = [src[i] for i in range(0, 40, 40 // N_FRAMES)][:N_FRAMES]
    K = frames[0].intrinsics
    return {
        "depth": np.stack([f.depth_m for f in frames]).astype(np.float32),
        "rgb": np.stack([f.rgb for f in frames]),
        "labels": np.stack([f.labels for f in frames]),
        "instances": np.stack([f.instances for f in frames]).astype(np.int32),
        "poses": np.stack([f.world_T_cam for f in frames]),
        "intrinsics": np.array([K.fx, K.fy, K.cx, K.cy, K.width, K.height], np.float64),
    }


def make_frames(a: dict[str, np.ndarray], with_truth: bool):
    from real3d.core import Frame, Intrinsics

    fx, fy, cx, cy, w, h = a["intrinsics"].tolist()
    K = Intrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=int(w), height=int(h))
    out = []
    for i in range(a["depth"].shape[0]):
        extra = {"labels": a["labels"][i], "instances": a["instances"][i]} if with_truth else {}
        out.append(Frame(rgb=a["rgb"][i], depth_m=a["depth"][i], intrinsics=K, world_T_cam=a["poses"][i], **extra))
    return out


def fuse_case(a: dict[str, np.ndarray], name: str):
    """The map of case ``name`` fused from the stored frames ``a``."""
    from real3d.core.segmentation import SegmentationResult
    from real3d.mapping import SemanticMap

    settings, mode = CASES[name]
    m = SemanticMap(**settings)
    for i, f in enumerate(make_frames(a, with_truth=mode == "labels")):
        if mode == "probs14":
            p = class_probs(a["labels"][i], i)
            m.integrate(f, SegmentationResult(labels=(p.argmax(axis=0)).astype(np.uint8), probs=p))
        elif mode == "probs13_hwc_inst":
            p = np.moveaxis(class_probs(a["labels"][i], i)[1:], 0, -1)
            m.integrate(f, p, instances=a["instances"][i])
        else:
            m.integrate(f)
    return m


def map_arrays(m) -> dict[str, np.ndarray]:
    """Everything fusion wrote into map ``m``, by name."""
    out = dict(m.voxel_arrays())
    out["keys"] = m._hash.keys.copy()
    out["instance_class"] = m._instance_class.copy()
    out["free_keys"] = m._free.keys.copy()
    out["free_count"] = m._free_count[: len(m._free)].copy()
    out["camera_positions"] = m.camera_positions
    out["frames_integrated"] = np.array(m.frames_integrated)
    out["labels"], out["confidence"] = m.fused_labels()
    return out


def main() -> None:
    a = frames_arrays()
    arrays = {f"frames/{k}": v for k, v in a.items()}
    for name in CASES:
        for k, v in map_arrays(fuse_case(a, name)).items():
            if k != "coords":  # the keys hold them
                arrays[f"{name}/{k}"] = v
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
