"""Data engine throughput: frames per second, per-step costs and scaling with resolution.

Measures the full job: rendering a frame with ground truth (primary visibility, textures,
lighting with shadow rays, camera effects, depth sensor noise, Frame construction), as
SynthDataset serves it (scene building amortised, 32 views per scene), in one process and
with DataLoader worker processes. Baselines, measured in the same run: Open3D's bare
primary-ray cast of the same views, and, with ``--baseline-src``, the whole frame and the
throughput of another checkout of real3d (e.g. ``git worktree add /tmp/base <commit>``),
run in a subprocess on the same scene, views and datasets.

    python benchmarks/bench_synth.py --repeats 5 --frames 1024 --baseline-src /tmp/base/src

``--rays bvh`` (or ``torch``) renders with that shadow-ray backend instead of Open3D's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

import real3d
from real3d.core.machine import describe_machine, load_average
from real3d.synth import (
    RenderConfig,
    Renderer,
    SynthDataset,
    TextureBank,
    generate_scene,
    random_viewpoint,
)
from real3d.synth.sequence import random_intrinsics

SIZES = [(120, 160), (240, 320), (480, 640)]
STEPS = {
    "baseline_cast": "baseline: Open3D primary-ray cast only",
    "cast": "cast (depth, faces, normals, points)",
    "albedo": "textured albedo",
    "lighting+shadows": "lighting + shadow rays (every 2nd pixel)",
    "camera_effects": "camera effects",
    "depth_sensor": "depth sensor model",
    "total_render": "whole frame (Renderer.render)",
}


_RAYS = "open3d"  # shadow-ray backend (--rays)


def machine() -> str:
    return describe_machine(("numpy", "numba", "torch", "open3d", "real3d"))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in load_average())


def med(xs):
    return float(np.median(xs))


def views(size, n_views):
    """The benchmark's home scene and ``n_views`` views of it (the same in every checkout)."""
    scene = generate_scene(1, "home")
    rng = np.random.default_rng(0)
    K = random_intrinsics(rng, size)
    return scene, K, [random_viewpoint(scene, rng) for _ in range(n_views)]


def render_ms(size, n_views, repeats, bank):
    """Median ms per ``Renderer.render`` (noise on, one thread) over ``repeats`` passes."""
    scene, K, poses = views(size, n_views)
    r = Renderer(scene, bank, RenderConfig(nthreads=1, shadow_rays=_RAYS))
    rng = np.random.default_rng(1)
    r.render(poses[0], K, rng)  # lazy set-up (ray-casting scene, compiled kernels)
    res = []
    for _ in range(repeats):
        t = time.perf_counter()
        for T in poses:
            r.render(T, K, rng)
        res.append(1000 * (time.perf_counter() - t) / n_views)
    return med(res)


def step_costs(size, n_views, repeats, bank):
    """Median ms per step over ``repeats`` passes of ``n_views`` views (one thread)."""
    from real3d.geometry.o3d import import_open3d
    from real3d.geometry.projection import pixel_rays, rotate_vectors
    from real3d.synth.camera_effects import apply_camera_effects
    from real3d.synth.sensor import simulate_depth

    o3d = import_open3d()
    scene, K, poses = views(size, n_views)
    r = Renderer(scene, bank, RenderConfig(nthreads=1, shadow_rays=_RAYS))
    rc = r.caster.raycasting_scene
    rng = np.random.default_rng(1)
    r.render(poses[0], K, rng)
    d_cam = pixel_rays(K).reshape(-1, 3).astype(np.float32)
    res = {k: [] for k in STEPS}
    for _ in range(repeats):
        acc = dict.fromkeys(STEPS, 0.0)
        for T in poses:
            t0 = time.perf_counter()
            rays = np.concatenate([np.broadcast_to(T[:3, 3], d_cam.shape), rotate_vectors(d_cam, T[:3, :3])], 1).astype(
                np.float32
            )
            rc.cast_rays(o3d.core.Tensor(rays), nthreads=1)
            t1 = time.perf_counter()
            v = r.cast(T, K)
            t2 = time.perf_counter()
            alb, emit = r.albedo(v)
            t3 = time.perf_counter()
            E = r.irradiance(v, T, rng)
            t4 = time.perf_counter()
            apply_camera_effects(alb * E + emit, rng, r.config.effects)
            t5 = time.perf_counter()
            lum = (0.2126 * alb[..., 0] + 0.7152 * alb[..., 1] + 0.0722 * alb[..., 2]).astype(np.float32)
            hit = v.face >= 0
            spec = hit & r.face_specular[np.where(hit, v.face, 0)]
            t5b = time.perf_counter()
            simulate_depth(v.depth_m, v.normals_cam, K, rng, r.config.sensor, albedo=lum, specular_mask=spec)
            t6 = time.perf_counter()
            r.render(T, K, rng)
            t7 = time.perf_counter()
            for k, dt in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5b, t7 - t6)):
                acc[k] += dt
        for k in STEPS:
            res[k].append(1000 * acc[k] / n_views)
    return {k: med(v) for k, v in res.items()}


def throughput(size, n_frames, workers, repeats, frames_per_scene, scene_batches):
    """Frames/s of SynthDataset (noise on, mixed homes and warehouses, scene building
    included), median of ``repeats`` datasets of ``n_frames``.

    workers = 0 renders in this process; otherwise a DataLoader with batches of 8 and
    ``workers`` processes, each with one torch and one Open3D thread. ``scene_batches`` uses
    ``SynthDataset.worker_batches`` (whole scenes per worker) instead of index order. The
    clock starts once every worker has delivered its first batch (processes started, texture
    bank built) and counts the frames after those."""
    fps = []
    for rep in range(repeats):
        ds = SynthDataset(
            n_frames,
            size_hw=size,
            kind="mixed",
            seed=100 + rep,
            noise=True,
            frames_per_scene=frames_per_scene,
            render_config=RenderConfig(nthreads=1, shadow_rays=_RAYS),
        )
        if workers == 0:
            ds[0]  # texture bank and first scene outside the timing, as in a long-running loader
            t = time.perf_counter()
            for i in range(1, n_frames):
                ds[i]
            fps.append((n_frames - 1) / (time.perf_counter() - t))
            continue
        if scene_batches:
            loader = DataLoader(
                ds, batch_sampler=ds.worker_batches(8, workers), num_workers=workers, worker_init_fn=_one_thread
            )
        else:
            loader = DataLoader(ds, batch_size=8, num_workers=workers, worker_init_fn=_one_thread)
        it = iter(loader)
        for _ in range(workers):
            next(it)
        t = time.perf_counter()
        n = 0
        for b in it:
            n += len(b["rgb"])
        fps.append(n / (time.perf_counter() - t))
    return med(fps)


def _one_thread(_):
    torch.set_num_threads(1)


def baseline_figures(args) -> dict:
    """Whole-frame ms and throughput of the checkout at ``--baseline-src``, from a subprocess
    that runs this script's ``--as-baseline`` mode with that checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=args.baseline_src)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--as-baseline",
        "--repeats",
        str(args.baseline_repeats),
        "--frames",
        str(args.baseline_frames),
        "--views",
        str(args.views),
        "--frames-per-scene",
        str(args.frames_per_scene),
    ]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def as_baseline(args) -> None:
    """Figures that need only the API every checkout has; printed as one JSON line."""
    bank = TextureBank(0)
    res = {
        "real3d": os.path.dirname(real3d.__file__),
        "render_ms": {f"{h}x{w}": render_ms((h, w), args.views, args.repeats, bank) for h, w in SIZES},
        "fps": {
            str(nw): throughput((240, 320), args.frames, nw, args.repeats, args.frames_per_scene, scene_batches=False)
            for nw in (0, 2)
        },
    }
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames", type=int, default=1024)
    ap.add_argument("--views", type=int, default=10)
    ap.add_argument("--frames-per-scene", type=int, default=32)
    ap.add_argument(
        "--baseline-src", default=None, help="src folder of another real3d checkout to measure as the baseline"
    )
    ap.add_argument("--baseline-repeats", type=int, default=3)
    ap.add_argument("--baseline-frames", type=int, default=384)
    ap.add_argument("--as-baseline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--rays",
        default="open3d",
        choices=("open3d", "bvh", "torch"),
        help="the engine's shadow-ray backend (RenderConfig.shadow_rays)",
    )
    args = ap.parse_args()
    global _RAYS
    _RAYS = args.rays
    torch.set_num_threads(1)
    if args.as_baseline:
        as_baseline(args)
        return
    print(machine())
    print(f"shadow rays: {args.rays}; start: {load()}")
    bank = TextureBank(0)
    base = None
    if args.baseline_src:
        base = baseline_figures(args)
        print(f"baseline checkout: {base['real3d']}")
    print(f"\nper-step cost, ms/frame (median of {args.repeats} x {args.views} views, 1 thread, home scene)")
    rows = {s: step_costs(s, args.views, args.repeats, bank) for s in SIZES}
    head = " ".join(f"{h}x{w}".rjust(10) for h, w in SIZES)
    print(f"{'step':44s} {head}")
    if base:
        print(
            f"{'baseline checkout: whole frame':44s} "
            + " ".join(f"{base['render_ms'][f'{h}x{w}']:10.2f}" for h, w in SIZES)
        )
    for k, label in STEPS.items():
        print(f"{label:44s} " + " ".join(f"{rows[s][k]:10.2f}" for s in SIZES))
    print(
        f"\nSynthDataset throughput at 240x320, noise on, mixed homes/warehouses, "
        f"{args.frames_per_scene} views per scene, {args.frames} frames, median of {args.repeats}"
    )
    for workers, scene_batches, what in (
        (0, False, "in this process"),
        (1, False, "1 DataLoader worker"),
        (2, False, "2 workers, batches in index order"),
        (2, True, "2 workers, worker_batches (whole scenes)"),
    ):
        f = throughput((240, 320), args.frames, workers, args.repeats, args.frames_per_scene, scene_batches)
        print(f"  {what:42s} {f:6.1f} frames/s")
    if base:
        print(
            f"  baseline checkout ({args.baseline_frames} frames, median of "
            f"{args.baseline_repeats}): in this process {base['fps']['0']:.1f}, "
            f"2 workers (index order) {base['fps']['2']:.1f} frames/s"
        )
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
