"""Semantic map fusion, scene-graph, costmap and planner timings; real3d's voxel hash vs
Open3D's VoxelBlockGrid on the same frames.

Each fusion backend runs in its own process (so peak memory is its own) over the same
frames, after one untimed warm-up frame; figures are medians over frames and repeats.
Reported: wall ms/frame, CPU ms/frame (process time: what the frame costs when the
machine is shared), resident memory growth from before the map was created to after the
last frame (Open3D allocates ``block_count`` blocks up front; 20,000 8^3 blocks here),
voxels allocated (Open3D: blocks x 512).

    python benchmarks/bench_mapping.py                 # data-engine frames (toy if absent)
    python benchmarks/bench_mapping.py --frames 60 --repeats 3 --toy
    python benchmarks/bench_mapping.py --scaling       # map memory vs scene size (rooms)

``--scaling`` fuses data-engine homes of 1, 3 and 10 rooms (10 = homes of 4, 3 and 3 rooms
side by side, 30 m apart, in one map), 100 robot frames per room, and reports the map's
own memory (``SemanticMap.nbytes``), the voxels it allocated, CPU ms per frame over the
run, and for comparison the 8^3 blocks Open3D's VoxelBlockGrid touches on the same frames
(at 20 bytes per voxel for TSDF, weight and colour, 76 with 14 class floats) and a dense
5 cm grid over the bounding box of the observed surface.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np


def _rss_mb() -> float:
    """Resident memory of this process, MB (10^6 bytes)."""
    from real3d.core.machine import current_rss_mb

    return current_rss_mb() * 2**20 / 1e6


def _frames(args):
    if not args.toy:
        try:
            from real3d.synth import generate_sequence

            return generate_sequence(args.seed, args.frames, size=tuple(args.size), kind="home"), "data engine home"
        except Exception as e:  # the data engine is optional for this benchmark
            print(f"data engine unavailable ({e}); using toy scenes")
    from real3d.testing.toyscene import toy_sequence

    return toy_sequence(args.seed, args.frames, size=tuple(args.size), depth_noise_m=0.0025), "toy scene"


def _run_real3d(frames, stride: int, labels: bool, q) -> None:
    from real3d.mapping import SemanticMap

    base = _rss_mb()
    m = SemanticMap(pixel_stride=stride)
    m.integrate(frames[0], None if labels else np.zeros(frames[0].size_hw, np.uint8))
    wall, cpu = [], []
    for f in frames[1:]:
        t, c = time.perf_counter(), time.process_time()
        m.integrate(f, None if labels else np.zeros(f.size_hw, np.uint8))
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    q.put({"wall": wall, "cpu": cpu, "mem": _rss_mb() - base, "voxels": len(m), "map_mb": m.nbytes / 1e6})


def _run_open3d(frames, voxel_size: float, trunc_voxels: float, labels: bool, q) -> None:
    from real3d.geometry.o3d import import_open3d

    o3d = import_open3d()
    core = o3d.core
    base = _rss_mb()  # before the grid: Open3D allocates block_count blocks up front
    names, dtypes, ch = ["tsdf", "weight", "color"], [core.float32] * 3, [1, 1, 3]
    if labels:
        names.append("label")
        dtypes.append(core.float32)
        ch.append(14)
    vbg = o3d.t.geometry.VoxelBlockGrid(
        names, dtypes, ch, voxel_size=voxel_size, block_resolution=8, block_count=20000, device=core.Device("CPU:0")
    )

    def step(f):
        K = core.Tensor(f.intrinsics.K, core.float64)
        ext = core.Tensor(np.linalg.inv(f.world_T_cam), core.float64)
        depth = o3d.t.geometry.Image(core.Tensor(f.depth_m))
        color = o3d.t.geometry.Image(core.Tensor(f.rgb.astype(np.float32)))
        blocks = vbg.compute_unique_block_coordinates(depth, K, ext, 1.0, 6.0, trunc_voxels)
        vbg.integrate(blocks, depth, color, K, K, ext, 1.0, 6.0, trunc_voxels)
        if labels:
            # The label update Open3D leaves to the caller: project every voxel of the touched
            # blocks and add log-probabilities of the pixel's label (as real3d does).
            buf, _ = vbg.hashmap().find(blocks)
            coords, idx = vbg.voxel_coordinates_and_flattened_indices(buf)
            p = coords.numpy() @ f.world_T_cam[:3, :3] - f.world_T_cam[:3, 3] @ f.world_T_cam[:3, :3]
            z = p[:, 2]
            ok = z > 0.1
            u = np.rint(f.intrinsics.fx * p[ok, 0] / z[ok] + f.intrinsics.cx).astype(int)
            v = np.rint(f.intrinsics.fy * p[ok, 1] / z[ok] + f.intrinsics.cy).astype(int)
            inb = (u >= 0) & (u < f.intrinsics.width) & (v >= 0) & (v < f.intrinsics.height)
            sel = idx.numpy()[ok][inb]
            lab = f.labels[v[inb], u[inb]].astype(int)
            attr = vbg.attribute("label").reshape((-1, 14))
            cur = attr[core.Tensor(sel)].numpy()
            cur[np.arange(len(sel)), lab] += 1.0
            attr[core.Tensor(sel)] = core.Tensor(cur)

    step(frames[0])
    wall, cpu = [], []
    for f in frames[1:]:
        t, c = time.perf_counter(), time.process_time()
        step(f)
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    n_blocks = vbg.hashmap().size()
    q.put({"wall": wall, "cpu": cpu, "mem": _rss_mb() - base, "voxels": n_blocks * 512, "map_mb": float("nan")})


def _scaled_frames(plan, frames_per_room: int, size):
    """Frames of the homes in ``plan`` [(seed, n_rooms)], each shifted 30 m further in x."""
    from real3d.synth.sequence import SyntheticStream

    for i, (seed, rooms) in enumerate(plan):
        for f in SyntheticStream(seed, frames_per_room * rooms, size, "home", True):
            T = f.world_T_cam.copy()
            T[0, 3] += 30.0 * i
            yield f.replace(world_T_cam=T)


def _scale_real3d(plan, frames_per_room, size, q) -> None:
    from real3d.mapping import SemanticMap

    m = SemanticMap()
    cpu = []
    for f in _scaled_frames(plan, frames_per_room, size):
        c = time.process_time()
        m.integrate(f)
        cpu.append((time.process_time() - c) * 1e3)
    coords = m.voxel_arrays()["coords"]
    # Dense bounding box per home (30 m apart), summed: what a dense grid over each would hold.
    dense = 0
    for i in range(len(plan)):
        c = coords[np.abs(coords[:, 0] * m.voxel_size_m - 30.0 * i - 7.5) < 15.0]
        if len(c):
            dense += int(np.prod(c.max(axis=0) - c.min(axis=0) + 1))
    q.put(
        {
            "voxels": len(m),
            "map_mb": m.nbytes / 1e6,
            "cpu": float(np.median(cpu)),
            "frames": len(cpu),
            "dense_voxels": dense,
        }
    )


def _scale_open3d(plan, frames_per_room, size, q) -> None:
    from real3d.geometry.o3d import import_open3d

    o3d = import_open3d()
    core = o3d.core
    vbg = o3d.t.geometry.VoxelBlockGrid(
        ["tsdf", "weight", "color"],
        [core.float32] * 3,
        [1, 1, 3],
        voxel_size=0.05,
        block_resolution=8,
        block_count=60000,
        device=core.Device("CPU:0"),
    )
    for f in _scaled_frames(plan, frames_per_room, size):
        K = core.Tensor(f.intrinsics.K, core.float64)
        ext = core.Tensor(np.linalg.inv(f.world_T_cam), core.float64)
        depth = o3d.t.geometry.Image(core.Tensor(f.depth_m))
        color = o3d.t.geometry.Image(core.Tensor(f.rgb.astype(np.float32)))
        blocks = vbg.compute_unique_block_coordinates(depth, K, ext, 1.0, 6.0, 3.0)
        vbg.integrate(blocks, depth, color, K, K, ext, 1.0, 6.0, 3.0)
    q.put({"blocks": int(vbg.hashmap().size())})


def _scaling(args) -> None:
    from real3d.synth import generate_scene

    by_rooms: dict[int, list[int]] = {}
    seed = 0
    while not all(len(by_rooms.get(k, [])) >= n for k, n in ((1, 1), (3, 3), (4, 1))) and seed < 300:
        by_rooms.setdefault(len(generate_scene(seed, "home").rooms), []).append(seed)
        seed += 1
    plans = {
        1: [(by_rooms[1][0], 1)],
        3: [(by_rooms[3][0], 3)],
        10: [(by_rooms[4][0], 4), (by_rooms[3][1], 3), (by_rooms[3][2], 3)],
    }
    fpr = args.frames_per_room
    print(
        "| rooms | homes (seed: rooms) | frames | real3d voxels | real3d map MB | CPU ms/frame | "
        "Open3D blocks touched | Open3D MB at 20 / 76 B per voxel | dense 5 cm grid MB at 76 B |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n, plan in plans.items():
        r = _in_child(_scale_real3d, plan, fpr, tuple(args.size))
        o = _in_child(_scale_open3d, plan, fpr, tuple(args.size)) if not args.skip_open3d else {"blocks": 0}
        vox_o3d = o["blocks"] * 512
        print(
            f"| {n} | {', '.join(f'{s}: {k}' for s, k in plan)} | {r['frames']} | {r['voxels']} | "
            f"{r['map_mb']:.1f} | {r['cpu']:.1f} | {o['blocks']} | {vox_o3d * 20 / 1e6:.0f} / "
            f"{vox_o3d * 76 / 1e6:.0f} | {r['dense_voxels'] * 76 / 1e6:.0f} |",
            flush=True,
        )


def _in_child(target, *args):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--skip-open3d", action="store_true")
    ap.add_argument("--scaling", action="store_true", help="map memory vs scene size instead")
    ap.add_argument("--frames-per-room", type=int, default=100)
    args = ap.parse_args()
    if args.scaling:
        _scaling(args)
        return

    seq, source = _frames(args)
    frames = list(seq)
    rows = []

    def record(name, results):
        wall = np.concatenate([r["wall"] for r in results])
        cpu = np.concatenate([r["cpu"] for r in results])
        r0 = results[-1]
        rows.append(
            (
                name,
                np.median(wall),
                np.percentile(wall, 90),
                np.median(cpu),
                np.median([r["mem"] for r in results]),
                r0["voxels"],
                r0["map_mb"],
            )
        )

    for stride in (2, 3, 4):
        record(
            f"real3d hash, stride {stride}, labels",
            [_in_child(_run_real3d, frames, stride, True) for _ in range(args.repeats)],
        )
    record("real3d hash, stride 4, no labels", [_in_child(_run_real3d, frames, 4, False) for _ in range(args.repeats)])
    if not args.skip_open3d:
        record(
            "Open3D VoxelBlockGrid (all pixels), TSDF+colour",
            [_in_child(_run_open3d, frames, 0.05, 3.0, False) for _ in range(args.repeats)],
        )
        record(
            "Open3D VoxelBlockGrid + Python label update",
            [_in_child(_run_open3d, frames, 0.05, 3.0, True) for _ in range(args.repeats)],
        )

    # Scene graph, costmap and planners on the fused map.
    from real3d.mapping import SemanticMap
    from real3d.nav import CostmapConfig, astar, build_costmap, route_skimage
    from real3d.scene import SceneGraph

    m = SemanticMap()
    g = SceneGraph()
    graph_ms = []
    for i, f in enumerate(frames):
        m.integrate(f)
        if i % 10 == 9:
            t = time.perf_counter()
            g.update(m)
            graph_ms.append((time.perf_counter() - t) * 1e3)
    cost_ms = []
    for _ in range(5):
        t = time.perf_counter()
        cm = build_costmap(m, CostmapConfig())
        cost_ms.append((time.perf_counter() - t) * 1e3)
    free = np.argwhere(np.isfinite(cm.cost))
    rng = np.random.default_rng(0)
    plan_ms = {"astar": [], "skimage": []}
    for _ in range(10):
        a, b = free[rng.integers(0, len(free), 2)]
        for name, fn in (("astar", astar), ("skimage", route_skimage)):
            t = time.perf_counter()
            try:
                fn(cm.cost, a, b)
            except Exception:
                pass
            plan_ms[name].append((time.perf_counter() - t) * 1e3)
    big = np.ones((400, 400), np.float32)
    big[100:300, 200] = np.inf
    big_ms = {}
    for name, fn in (("astar", astar), ("skimage", route_skimage)):
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            fn(big, (10, 10), (390, 390))
            ts.append((time.perf_counter() - t) * 1e3)
        big_ms[name] = np.median(ts)

    from real3d.core.machine import describe_machine

    print(f"\nmachine: {describe_machine(('numpy', 'scipy', 'skimage', 'open3d', 'real3d'))}")
    print(
        f"frames: {len(frames)} x {args.size[0]}x{args.size[1]} from {source} (seed {args.seed}), "
        f"5 cm voxels, {args.repeats} repeats\n"
    )
    print("| fusion backend | wall ms/frame median | p90 | CPU ms/frame median | RSS growth MB | voxels | map MB |")
    print("|---|---|---|---|---|---|---|")
    for name, med, p90, cpu, mem, vox, mb in rows:
        print(f"| {name} | {med:.1f} | {p90:.1f} | {cpu:.1f} | {mem:.0f} | {vox} | {'' if mb != mb else f'{mb:.1f}'} |")
    print("\n| stage | median ms |\n|---|---|")
    print(f"| scene graph update (every 10 frames, {len(g.objects())} objects) | {np.median(graph_ms):.1f} |")
    print(f"| costmap build ({cm.cost.shape[0]}x{cm.cost.shape[1]} cells at 5 cm) | {np.median(cost_ms):.1f} |")
    print(f"| plan A* (own) on that costmap | {np.median(plan_ms['astar']):.1f} |")
    print(f"| plan skimage route_through_array on that costmap | {np.median(plan_ms['skimage']):.1f} |")
    print(f"| plan A* (own), 400x400 with a wall | {big_ms['astar']:.1f} |")
    print(f"| plan skimage, 400x400 with a wall | {big_ms['skimage']:.1f} |")


if __name__ == "__main__":
    main()
