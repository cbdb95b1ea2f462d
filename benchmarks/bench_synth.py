"""Data engine throughput: frames per second, per-step costs and scaling with resolution.

Measures the full job: rendering a frame with ground truth (ray cast, textures, lighting
with shadow rays, camera effects, depth sensor noise, Frame construction), as SynthDataset
serves it, in one process and with DataLoader workers. The baseline, measured in the same
run, is Open3D's bare primary-ray cast of the same views: the floor no renderer built on it
can go under.

    python benchmarks/bench_synth.py --repeats 5 --frames 200
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

import real3d
from real3d.synth import Renderer, SynthDataset, TextureBank, generate_scene, random_viewpoint
from real3d.synth.camera_effects import apply_camera_effects
from real3d.synth.sequence import random_intrinsics
from real3d.synth.sensor import simulate_depth


def machine() -> str:
    import open3d  # noqa: F401  (version only; real3d loads libusb first)

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
            f"open3d {open3d.__version__}, real3d {real3d.__version__}")


def med(xs):
    return float(np.median(xs))


def step_costs(size, n_views, repeats, bank):
    """Median ms per step over ``repeats`` passes of ``n_views`` views (one thread)."""
    scene = generate_scene(1, "home")
    r = Renderer(scene, bank)
    r.config = type(r.config)(nthreads=1)
    rng = np.random.default_rng(0)
    K = random_intrinsics(rng, size)
    poses = [random_viewpoint(scene, rng) for _ in range(n_views)]
    keys = ("baseline_cast", "cast", "albedo", "lighting+shadows", "camera_effects", "depth_noise", "total_render")
    res = {k: [] for k in keys}
    o3d = r._o3d
    from real3d.geometry.projection import pixel_rays, rotate_vectors

    d_cam = pixel_rays(K).reshape(-1, 3).astype(np.float32)
    for _ in range(repeats):
        acc = dict.fromkeys(keys, 0.0)
        for T in poses:
            t0 = time.perf_counter()
            rays = np.concatenate([np.broadcast_to(T[:3, 3], d_cam.shape),
                                   rotate_vectors(d_cam, T[:3, :3])], 1).astype(np.float32)
            r._rc.cast_rays(o3d.core.Tensor(rays), nthreads=1)
            t1 = time.perf_counter()
            v = r.cast(T, K)
            t2 = time.perf_counter()
            alb, emit = r.albedo(v)
            t3 = time.perf_counter()
            E = r.irradiance(v, T, rng)
            t4 = time.perf_counter()
            apply_camera_effects(alb * E + emit, rng, r.config.effects)
            t5 = time.perf_counter()
            simulate_depth(v.depth_m, v.normals_cam, K, rng, r.config.sensor,
                           albedo=alb.mean(-1), specular_mask=None)
            t6 = time.perf_counter()
            r.render(T, K, rng)
            t7 = time.perf_counter()
            for k, dt in zip(keys, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6)):
                acc[k] += dt
        for k in keys:
            res[k].append(1000 * acc[k] / n_views)
    return {k: med(v) for k, v in res.items()}


def throughput(size, n_frames, workers, repeats, frames_per_scene):
    """Frames/s of SynthDataset through a DataLoader (scene building included)."""
    fps = []
    for rep in range(repeats):
        ds = SynthDataset(n_frames, size_hw=size, kind="mixed", seed=100 + rep, noise=True,
                          frames_per_scene=frames_per_scene)
        if workers == 0:
            ds[0]  # build the texture bank outside the timing, as a long-running loader does
            t = time.perf_counter()
            for i in range(n_frames):
                ds[i]
            fps.append(n_frames / (time.perf_counter() - t))
        else:
            loader = DataLoader(ds, batch_size=8, num_workers=workers, persistent_workers=False,
                                worker_init_fn=lambda _: torch.set_num_threads(1))
            it = iter(loader)
            next(it)  # workers started and banks built
            t = time.perf_counter()
            n = 8
            for b in it:
                n += len(b["rgb"])
            fps.append((n - 8) / (time.perf_counter() - t))
    return med(fps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--views", type=int, default=20)
    ap.add_argument("--frames-per-scene", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(machine())
    bank = TextureBank(0)
    print(f"\nper-step cost, ms/frame (median of {args.repeats} x {args.views} views, 1 thread, home scene)")
    sizes = [(120, 160), (240, 320), (480, 640)]
    rows = {s: step_costs(s, args.views, args.repeats, bank) for s in sizes}
    keys = list(next(iter(rows.values())))
    print(f"{'step':18s} " + " ".join(f"{h}x{w:>4d}".rjust(10) for h, w in sizes))
    for k in keys:
        print(f"{k:18s} " + " ".join(f"{rows[s][k]:10.2f}" for s in sizes))
    print(f"\nSynthDataset throughput at 240x320, noise on, mixed homes/warehouses, "
          f"{args.frames_per_scene} views per scene, {args.frames} frames, median of {args.repeats}")
    for workers in (0, 2):
        f = throughput((240, 320), args.frames, workers, args.repeats, args.frames_per_scene)
        print(f"  workers={workers}: {f:6.1f} frames/s")


if __name__ == "__main__":
    main()
