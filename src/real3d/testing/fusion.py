"""Fusing a whole sequence into a semantic map and a scene graph, as the mapping and
navigation evaluations do, and keeping fused data-engine homes on disk so that costmap
settings can be scored again on the same maps.

``fuse_sequence`` integrates every frame into ``SemanticMap(pixel_stride=stride)`` and
updates a ``SceneGraph`` every 10 frames and after the last. ``fused_home`` does that once
for a noisy 240x320 data-engine home and keeps ``<tag>_map.npz`` (the map) and
``<tag>_scene.pkl`` (the scene's ground truth, the graph's objects and floor height) in a
folder, the tag naming the seed, the frame count, the engine's fingerprint and the model.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path


def fuse_sequence(seq, stride: int = 4, graph_config=None, refiner=None, no_instances: bool = False, model=None):
    """Fuse every frame of ``seq`` (a sequence of ``Frame``) into a
    ``SemanticMap(pixel_stride=stride)`` and update a ``SceneGraph(graph_config,
    refiner=refiner)`` every 10 frames and after the last.

    The frames' ground-truth labels (and instance segments, unless ``no_instances``) are
    fused; ``model`` (a segmentation network with ``predict``), when given, replaces them by
    its class probabilities, and no instance segments are fused.

    Returns:
        (map, graph, per-frame fuse ms, per-update graph ms); fuse ms leave the network's
        time out.
    """
    from real3d.mapping import SemanticMap
    from real3d.scene import SceneGraph, SceneGraphConfig

    m = SemanticMap(pixel_stride=stride)
    g = SceneGraph(graph_config or SceneGraphConfig(), refiner=refiner)
    fuse_ms, graph_ms = [], []
    for i, f in enumerate(seq):
        probs = None if model is None else model.predict(f).probs  # (C, H, W)
        t = time.perf_counter()
        if probs is not None:
            m.integrate(f, probs)
        else:
            m.integrate(f.replace(instances=None) if no_instances else f)
        fuse_ms.append((time.perf_counter() - t) * 1e3)
        if i % 10 == 9 or i == len(seq) - 1:
            t = time.perf_counter()
            g.update(m)
            graph_ms.append((time.perf_counter() - t) * 1e3)
    return m, g, fuse_ms, graph_ms


def fused_home_tag(seed: int, frames: int, model_name: str | None = None) -> str:
    """The file-name stem of a fused home: seed, frames, engine fingerprint and, with
    ``model_name``, the model's name reduced to safe characters."""
    from real3d.synth import engine_fingerprint

    tag = f"home_{seed}_{frames}_{engine_fingerprint()}"
    if model_name is not None:
        tag += "_" + "".join(c if c.isalnum() or c in "-." else "_" for c in Path(model_name).stem)
    return tag


def fused_home(seed: int, folder: str | Path, frames: int, model_name: str | None = None, model=None):
    """The data-engine home ``seed`` (``frames`` noisy frames at 240x320) fused with
    ``fuse_sequence(stride=4, model=model)``: read from ``folder`` when kept there, else
    fused and kept (the scene file written atomically, last).

    Args:
        model_name: names the model in the file names (None: ground-truth labels).
        model: the segmentation network to fuse probabilities of; None fuses the labels.

    Returns:
        (SemanticMap, {"scene": SceneGT, "objects": the graph's objects, "floor_z": metres}).
    """
    from real3d.mapping import SemanticMap
    from real3d.synth import generate_sequence

    folder = Path(folder)
    tag = fused_home_tag(seed, frames, model_name)
    mp, sp = folder / f"{tag}_map.npz", folder / f"{tag}_scene.pkl"
    if mp.exists() and sp.exists():
        with open(sp, "rb") as fh:
            return SemanticMap.load(mp), pickle.load(fh)
    seq = generate_sequence(seed, frames, size=(240, 320), kind="home", noise=True)
    m, g, _, _ = fuse_sequence(seq, stride=4, model=model)
    folder.mkdir(parents=True, exist_ok=True)
    m.save(mp)
    extra = {"scene": seq.scene, "objects": g.objects(), "floor_z": g.floor_z_m}
    tmp = sp.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(extra, fh, protocol=5)
    tmp.replace(sp)
    return m, extra
