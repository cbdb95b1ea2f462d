"""Shadow-ray backends of the data engine on one CPU thread: Open3D's RaycastingScene
(the default, Embree) against real3d's numba BVH (``rays=bvh``, for hosts without Open3D).

Renders ``--views`` random views of each of ``--scenes`` homes at 240x320 (noise on) with
each backend and reports, per backend, the median time of a whole frame
(``Renderer.render``) and the total time of the occlusion tests on the very rays those
renders traced (recorded once, then timed through each backend in turn), with the number of
rays on which the backends disagree.

    python benchmarks/bench_shadow_rays.py --scenes 3,5,7 --views 12
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", default="3,5,7", help="home seeds")
    ap.add_argument("--views", type=int, default=12, help="views per home")
    ap.add_argument("--repeats", type=int, default=3, help="passes over the recorded rays")
    args = ap.parse_args()

    from real3d.core import Intrinsics
    from real3d.core.machine import describe_machine
    from real3d.geometry.bvh import BVHOccluder
    from real3d.geometry.o3d import import_open3d
    from real3d.synth import RenderConfig, Renderer, TextureBank, generate_scene, random_viewpoint

    o3d = import_open3d()
    bank = TextureBank()
    K = Intrinsics.from_fov(320, 240, 1.0)
    frame_ms: dict[str, list[float]] = {"open3d": [], "bvh": []}
    recorded = []
    for seed in (int(s) for s in args.scenes.split(",")):
        scene = generate_scene(seed, "home")
        poses = [random_viewpoint(scene, np.random.default_rng(100 + k)) for k in range(args.views)]
        for backend in frame_ms:
            r = Renderer(scene, bank, RenderConfig(shadow_rays=backend, nthreads=1))
            r.render(poses[0], K, np.random.default_rng(0))  # warm-up (and BVH build, kernels)
            if backend == "open3d":
                test = r.caster.occlusion_test("open3d", 1)

                def record(*_, _test=test, _seed=seed):
                    def f(rays, tnear, tfar):
                        recorded.append((_seed, rays.copy(), tnear, tfar))
                        return _test(rays, tnear, tfar)

                    return f

                r.caster.occlusion_test = record
            for k, pose in enumerate(poses):
                t0 = time.perf_counter()
                r.render(pose, K, np.random.default_rng(k))
                frame_ms[backend].append((time.perf_counter() - t0) * 1e3)

    meshes = {s: generate_scene(s, "home").mesh for s in {rec[0] for rec in recorded}}
    scenes = {}
    t_build = []
    for s, m in meshes.items():
        rc = o3d.t.geometry.RaycastingScene()
        rc.add_triangles(o3d.core.Tensor(m.vertices.astype(np.float32)), o3d.core.Tensor(m.triangles.astype(np.uint32)))
        t0 = time.perf_counter()
        bvh = BVHOccluder(m.vertices, m.triangles)
        t_build.append((time.perf_counter() - t0) * 1e3)
        scenes[s] = (rc, bvh)
    totals = {"open3d": [], "bvh": []}
    disagree = 0
    for rep in range(args.repeats):
        t = {"open3d": 0.0, "bvh": 0.0}
        for s, rays, tnear, tfar in recorded:
            rc, bvh = scenes[s]
            t0 = time.perf_counter()
            a = rc.test_occlusions(o3d.core.Tensor(rays), tnear=tnear, tfar=tfar, nthreads=1).numpy()
            t1 = time.perf_counter()
            b = bvh.test_occlusions(rays, tnear, tfar)
            t2 = time.perf_counter()
            t["open3d"] += t1 - t0
            t["bvh"] += t2 - t1
            if rep == 0:
                disagree += int((a != b).sum())
        for k in t:
            totals[k].append(t[k] * 1e3)
    n_rays = sum(len(rec[1]) for rec in recorded)
    n_frames = len(frame_ms["open3d"])
    print(
        f"machine: {describe_machine(('open3d', 'numba'))}; one thread; homes {args.scenes}, "
        f"{n_frames} views at 240x320"
    )
    print(
        f"BVH build: {np.median(t_build):.1f} ms median over {len(t_build)} homes "
        f"({', '.join(str(len(m.triangles)) for m in meshes.values())} triangles)"
    )
    print(
        "| backend | frame ms (median) | occlusion tests on the recorded rays, ms (median of passes) | ms per frame |"
    )
    print("|---|---|---|---|")
    for k in frame_ms:
        occ = float(np.median(totals[k]))
        print(f"| {k} | {np.median(frame_ms[k]):.1f} | {occ:.1f} | {occ / max(n_frames, 1):.2f} |")
    print(f"{n_rays} rays in {len(recorded)} calls; backends disagree on {disagree}")


if __name__ == "__main__":
    main()
