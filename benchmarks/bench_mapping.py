"""Semantic map fusion as the pipeline runs it, side by side with Open3D's VoxelBlockGrid
on the same frames; scene-graph, costmap and planner timings (``--stages``); map memory
against scene size (``--scaling``).

Fusion (the default): ``--frames`` frames of a data-engine home at ``--size``, the map
settings the pipeline uses (``real3d.mapping.config.PIPELINE_MAP_CONFIG``), one thread
(``OMP_NUM_THREADS`` is set to 1 unless it is set already). Rows:

* Open3D geometry + colour: tensor ``VoxelBlockGrid`` (8^3 blocks, 20,000 allocated up
  front) integrating depth and colour of every pixel at the same voxel size, truncation
  and depth range; the numpy -> Open3D tensor conversion of each frame included. Skipped
  with a message when Open3D cannot be imported (it is not a dependency).
* real3d geometry only: ``SemanticMap.integrate(frame)`` on frames without labels (TSDF,
  colour, endpoint hits, free-space carving).
* real3d with labels: the same plus class evidence from the frame's (H, W) uint8
  ground-truth labels.
* real3d as the pipeline calls it: ``integrate(sensor_frame, SegmentationResult)``
  (``Pipeline._fuse``): (14, H, W) float32 class probabilities (void channel 0, a softmax
  over the 13 classes peaked at the ground-truth class), no instance segments, on frames
  that carry no ground truth.
* with ``--channels-last``, also: the same probabilities in channels-last memory, handed
  over as a (14, H, W) view of it (what a segmenter that wrote its softmax pixel by pixel
  would give): the map reads a pixel's 14 values from one or two cache lines instead of
  one line in each of 14 planes.

Each repeat runs every row once, in turn (A, B, C, D, A, B, ...), each in its own forked
process (so memory is its own), over the same frames after one untimed warm-up frame. The
frames' arrays are made before the timing, so each frame's inputs come from memory, not
from the caches; with ``--inputs-in-cache`` every row first reads each frame's inputs
(untimed), as they are after the reader and the segmenter that just wrote them in the
pipeline.
Reported: median and p90 wall ms/frame and median CPU ms/frame (process time) over all
frames and repeats, CPU time relative to Open3D's, resident memory growth and voxels
allocated (Open3D: blocks x 512). ``--baseline-src DIR`` adds the real3d rows once more
with ``real3d.mapping`` imported from ``DIR`` (the ``src`` folder of another checkout,
e.g. ``git worktree add /tmp/before <commit>``), alternating with the others.

    python benchmarks/bench_mapping.py                     # 120 frames, 3 repeats
    python benchmarks/bench_mapping.py --baseline-src /tmp/before/src
    python benchmarks/bench_mapping.py --frames 60 --repeats 3 --toy
    python benchmarks/bench_mapping.py --stages            # scene graph, costmap, planners
    python benchmarks/bench_mapping.py --scaling           # map memory vs scene size (rooms)
    python benchmarks/bench_mapping.py --overlap --baseline-src /tmp/before/src
    python benchmarks/bench_mapping.py --kernels --baseline-src /tmp/before/src

``--overlap`` checks that fusion lets another Python thread run: in a child process per
tree (this one and ``--baseline-src``), alternating, a second thread repeats a
segmentation's post-processing in numpy (softmax over 14 classes of a (14, H, W) float32
image and its argmax) while the main thread fuses all frames as the pipeline calls it.
Reported: fusion wall ms/frame alone and with that thread running, and the CPU time that
thread gets per second while fusion runs, as a fraction of what it gets alone (1.0: fusion
never kept it waiting for the GIL; a fusion that held the GIL throughout would bring it
near 0); and the share of the fusion thread's CPU time spent in the compiled kernels,
which release the GIL (measured in a separate pass; "n/a" for a tree without them). On a
host whose scheduler caps the process's CPU, the thread's share is capped too: the
kernels' share is then the figure that tells how much of fusion other threads can run
beside.

``--kernels`` times each stage of fusion as the pipeline calls it (the compiled kernels,
the hash's lookup, insertion and growth, the arrays' growth, free-space carving, the
whole ``integrate``) in CPU ms/frame, in a child process per tree, alternating (with
``--inputs-in-cache`` too). A stage a tree lacks reads "n/a" (``gather_chw``, the class
probabilities' read before ``project_voxels`` took it over).

``--scaling`` fuses data-engine homes of 1, 3 and 10 rooms (10 = homes of 4, 3 and 3 rooms
side by side, 30 m apart, in one map), 100 robot frames per room, and reports the map's
own memory (``SemanticMap.nbytes``), the voxels it allocated, CPU ms per frame over the
run, and for comparison the 8^3 blocks Open3D's VoxelBlockGrid touches on the same frames
(at 20 bytes per voxel for TSDF, weight and colour, 76 with 14 class floats) and a dense
5 cm grid over the bounding box of the observed surface.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and Open3D start their thread pools

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def _rss_mb() -> float:
    """Resident memory of this process, MB (10^6 bytes)."""
    from real3d.core.machine import current_rss_mb

    return current_rss_mb() * 2**20 / 1e6


def _frames(args):
    """Frames with ground truth (labels), and the name of their source."""
    if not args.toy:
        try:
            from real3d.synth import generate_sequence

            return generate_sequence(args.seed, args.frames, size=tuple(args.size), kind="home"), "data engine home"
        except Exception as e:  # the data engine is optional for this benchmark
            print(f"data engine unavailable ({e}); using toy scenes")
    from real3d.testing.toyscene import toy_sequence

    return toy_sequence(args.seed, args.frames, size=tuple(args.size), depth_noise_m=0.0025), "toy scene"


def segmenter_output(labels: np.ndarray, rng: np.random.Generator):
    """A ``SegmentationResult`` shaped like a segmenter's: (14, H, W) float32, void channel
    0, a softmax over the 13 classes of noisy logits peaked at ``labels`` ((H, W) uint8;
    void pixels are given the wall class)."""
    from real3d.core.segmentation import SegmentationResult

    h, w = labels.shape
    lab = np.where(labels == 0, 12, labels).astype(np.int64)
    logits = rng.normal(0.0, 1.0, (13, h, w)).astype(np.float32)
    logits[lab - 1, np.arange(h)[:, None], np.arange(w)[None, :]] += 4.0
    e = np.exp(logits - logits.max(axis=0))
    probs = np.zeros((14, h, w), np.float32)
    probs[1:] = e / e.sum(axis=0)
    return SegmentationResult(labels=(probs[1:].argmax(axis=0) + 1).astype(np.uint8), probs=probs)


def _use_mapping_from(src: str) -> None:
    """Import ``real3d.mapping`` from ``src`` (another checkout's src folder) from now on
    in this process; the rest of real3d stays this checkout's."""
    import real3d

    for name in [n for n in sys.modules if n == "real3d.mapping" or n.startswith("real3d.mapping.")]:
        del sys.modules[name]
    real3d.__path__.insert(0, os.path.join(src, "real3d"))


def _read_inputs(it) -> None:
    """Read every input array of item ``it`` (depth, colour, labels, class probabilities)
    once, untimed: they are then in the caches as after the reader and the segmenter that
    just wrote them in the pipeline (``--inputs-in-cache``)."""
    f, sensor, *segs = it
    for a in (sensor.depth_m, sensor.rgb, f.labels, *(s.probs for s in segs)):
        if a is not None:
            a.sum(dtype=np.float64)


def _time_frames(step, items, inputs_in_cache: bool = False) -> dict:
    step(items[0])  # warm-up, untimed
    wall, cpu = [], []
    for it in items[1:]:
        if inputs_in_cache:
            _read_inputs(it)
        t, c = time.perf_counter(), time.process_time()
        step(it)
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return {"wall": wall, "cpu": cpu}


def _run_real3d(items, mode: str, baseline_src: str | None, inputs_in_cache: bool, q) -> None:
    """Fuse ``items`` (frame with ground truth, sensor frame, segmentation[, the same
    channels-last]) with the pipeline's map settings; ``mode``: "geometry", "labels",
    "pipeline" or "channels_last"."""
    try:
        if baseline_src:
            _use_mapping_from(baseline_src)
        from real3d.mapping import SemanticMap
        from real3d.mapping.config import PIPELINE_MAP_CONFIG

        base = _rss_mb()
        m = SemanticMap(PIPELINE_MAP_CONFIG)
        if mode == "geometry":
            out = _time_frames(lambda it: m.integrate(it[1]), items, inputs_in_cache)
        elif mode == "labels":
            out = _time_frames(lambda it: m.integrate(it[1], it[0].labels), items, inputs_in_cache)
        elif mode == "channels_last":
            out = _time_frames(lambda it: m.integrate(it[1], it[3]), items, inputs_in_cache)
        else:
            out = _time_frames(lambda it: m.integrate(it[1], it[2]), items, inputs_in_cache)
        q.put({**out, "mem": _rss_mb() - base, "voxels": len(m)})
    except Exception as e:  # a baseline tree that does not fit this one
        q.put({"error": f"{type(e).__name__}: {e}"})


def _run_open3d(items, voxel_size: float, trunc_voxels: float, depth_max: float, inputs_in_cache: bool, q) -> None:
    try:
        from real3d.geometry.o3d import import_open3d

        o3d = import_open3d()
    except Exception as e:  # optional: not a dependency of real3d
        q.put({"error": f"Open3D unavailable ({type(e).__name__}: {e})"})
        return
    core = o3d.core
    base = _rss_mb()  # before the grid: Open3D allocates block_count blocks up front
    vbg = o3d.t.geometry.VoxelBlockGrid(
        ["tsdf", "weight", "color"],
        [core.float32] * 3,
        [1, 1, 3],
        voxel_size=voxel_size,
        block_resolution=8,
        block_count=20000,
        device=core.Device("CPU:0"),
    )

    def step(it):
        f = it[1]
        K = core.Tensor(f.intrinsics.K, core.float64)
        ext = core.Tensor(np.linalg.inv(f.world_T_cam), core.float64)
        depth = o3d.t.geometry.Image(core.Tensor(f.depth_m))
        color = o3d.t.geometry.Image(core.Tensor(f.rgb.astype(np.float32)))
        blocks = vbg.compute_unique_block_coordinates(depth, K, ext, 1.0, depth_max, trunc_voxels)
        vbg.integrate(blocks, depth, color, K, K, ext, 1.0, depth_max, trunc_voxels)

    out = _time_frames(step, items, inputs_in_cache)
    q.put({**out, "mem": _rss_mb() - base, "voxels": int(vbg.hashmap().size()) * 512})


def fusion(args) -> None:
    from real3d.core.frame import Frame
    from real3d.core.segmentation import SegmentationResult
    from real3d.mapping.config import PIPELINE_MAP_CONFIG

    cfg = PIPELINE_MAP_CONFIG
    seq, source = _frames(args)
    rng = np.random.default_rng(args.seed)
    items = []
    for f in seq:
        sensor = Frame(
            rgb=f.rgb,
            depth_m=f.depth_m,
            intrinsics=f.intrinsics,
            world_T_cam=f.world_T_cam,
            timestamp_s=f.timestamp_s,
            index=f.index,
        )
        seg = segmenter_output(f.labels, rng)
        if args.channels_last:
            hwc = np.ascontiguousarray(np.moveaxis(seg.probs, 0, -1))
            items.append((f, sensor, seg, SegmentationResult(labels=seg.labels, probs=np.moveaxis(hwc, -1, 0))))
        else:
            items.append((f, sensor, seg))
    o3d_row = "Open3D VoxelBlockGrid, geometry + colour"
    rows = {} if args.skip_open3d else {o3d_row: ("open3d", None)}
    names = {
        "geometry": "real3d, geometry only",
        "labels": "real3d, with labels (ground truth)",
        "pipeline": "real3d as the pipeline calls it (14-class probabilities)",
    }
    if args.channels_last:
        names["channels_last"] = "real3d, the same probabilities channels-last (a (14, H, W) view)"
    for src in (None, args.baseline_src) if args.baseline_src else (None,):
        for mode, name in names.items():
            rows[name + (" [baseline]" if src else "")] = (mode, src)
    results: dict[str, list] = {name: [] for name in rows}
    skipped: dict[str, str] = {}
    for _ in range(args.repeats):
        for name, (mode, src) in rows.items():
            if name in skipped:
                continue
            if mode == "open3d":
                r = _in_child(
                    _run_open3d,
                    items,
                    cfg.voxel_size_m,
                    cfg.truncation_m / cfg.voxel_size_m,
                    cfg.max_depth_m,
                    args.inputs_in_cache,
                )
            else:
                r = _in_child(_run_real3d, items, mode, src, args.inputs_in_cache)
            if "error" in r:
                skipped[name] = r["error"]
                print(f"skipping {name!r}: {r['error']}", flush=True)
            else:
                results[name].append(r)

    from real3d.core.machine import describe_machine

    print(f"\nmachine: {describe_machine(('numpy', 'open3d', 'real3d'))}")
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(
        f"frames: {len(items)} x {args.size[0]}x{args.size[1]} from {source} (seed {args.seed}), "
        f"{cfg.voxel_size_m * 100:g} cm voxels, truncation {cfg.truncation_m * 100:g} cm, pixel stride "
        f"{cfg.pixel_stride} (real3d), {args.repeats} repeats alternating, first frame untimed"
        + ("; each frame's inputs read just before it (in cache)" if args.inputs_in_cache else "")
        + (f"; [baseline]: real3d.mapping from {args.baseline_src}" if args.baseline_src else "")
        + "\n"
    )
    o3d_cpu = None
    if results.get(o3d_row):
        o3d_cpu = np.median(np.concatenate([r["cpu"] for r in results[o3d_row]]))
    print("| fusion | wall ms/frame median | p90 | CPU ms/frame median | CPU vs Open3D | RSS growth MB | voxels |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in results.items():
        if not rs:
            continue
        wall = np.concatenate([r["wall"] for r in rs])
        cpu = np.median(np.concatenate([r["cpu"] for r in rs]))
        rel = f"{cpu / o3d_cpu:.2f}x" if o3d_cpu else ""
        print(
            f"| {name} | {np.median(wall):.2f} | {np.percentile(wall, 90):.2f} | {cpu:.2f} | {rel} | "
            f"{np.median([r['mem'] for r in rs]):.0f} | {rs[-1]['voxels']} |"
        )


def _numpy_work(shape: tuple[int, int], stop, out: list) -> None:
    """Softmax over 14 classes of a (14, H, W) float32 image and its argmax, repeated until
    ``stop`` is set; ``out``: [this thread's CPU seconds, wall seconds]."""
    logits = np.random.default_rng(0).normal(size=(14, *shape)).astype(np.float32)
    t, c = time.perf_counter(), time.thread_time()
    while not stop.is_set():
        e = np.exp(logits - logits.max(axis=0))
        (e / e.sum(axis=0)).argmax(axis=0)
    out[:] = [time.thread_time() - c, time.perf_counter() - t]


def _run_overlap(items, baseline_src: str | None, size, q) -> None:
    """Fusion alone, the numpy thread alone, then both (see the module docstring)."""
    import threading

    try:
        if baseline_src:
            _use_mapping_from(baseline_src)
        from real3d.mapping import SemanticMap
        from real3d.mapping.config import PIPELINE_MAP_CONFIG

        def fuse() -> float:
            m = SemanticMap(PIPELINE_MAP_CONFIG)
            m.integrate(items[0][1], items[0][2])  # warm-up, untimed
            t = time.perf_counter()
            for it in items[1:]:
                m.integrate(it[1], it[2])
            return (time.perf_counter() - t) * 1e3 / (len(items) - 1)

        def work(seconds: float | None) -> tuple[threading.Thread, threading.Event, list]:
            stop, out = threading.Event(), []
            th = threading.Thread(target=_numpy_work, args=(size, stop, out))
            th.start()
            if seconds is not None:
                time.sleep(seconds)
            return th, stop, out

        # Thread CPU time inside the compiled kernels, which release the GIL (this tree only).
        in_kernels = [0.0]
        kernels = []
        fk, hashing = sys.modules.get("real3d.mapping.fusion_kernels"), sys.modules.get("real3d.mapping.hashing")
        if fk is not None:
            for mod, names in ((fk, fk.__all__), (hashing, ("_lookup_kernel", "_claim_kernel"))):
                kernels += [(mod, name, getattr(mod, name)) for name in names if hasattr(mod, name)]

        def timed(f):
            def call(*a):
                c = time.thread_time()
                try:
                    return f(*a)
                finally:
                    in_kernels[0] += time.thread_time() - c

            return call

        for mod, name, f in kernels:
            setattr(mod, name, timed(f))
        c = time.thread_time()
        fuse()
        nogil_share = in_kernels[0] / (time.thread_time() - c) if kernels else float("nan")
        for mod, name, f in kernels:
            setattr(mod, name, f)

        alone = fuse()
        th, stop, out = work(alone * (len(items) - 1) / 1e3)
        stop.set()
        th.join()
        share_alone = out[0] / out[1]
        th, stop, out = work(None)
        together = fuse()
        stop.set()
        th.join()
        rate = (out[0] / out[1]) / max(share_alone, 1e-9)
        q.put({"alone": alone, "together": together, "rate": rate, "nogil": nogil_share})
    except Exception as e:  # a baseline tree that does not fit this one
        q.put({"error": f"{type(e).__name__}: {e}"})


def _pipeline_items(args) -> tuple[list[tuple], str]:
    """Per rendered frame: (the frame, the sensor frame without ground truth, a segmenter's
    output made from its labels), as the pipeline hands them to fusion; and the frames' source."""
    from real3d.core.frame import Frame

    seq, source = _frames(args)
    rng = np.random.default_rng(args.seed)
    items = []
    for f in seq:
        sensor = Frame(rgb=f.rgb, depth_m=f.depth_m, intrinsics=f.intrinsics, world_T_cam=f.world_T_cam)
        items.append((f, sensor, segmenter_output(f.labels, rng)))
    return items, source


def _alternate(trees: dict, repeats: int, run, items, *extra) -> dict[str, list]:
    """``run(items, src, *extra)`` in a child process per tree (``{name: src or None}``),
    the trees alternating for ``repeats`` rounds; per tree the results without an error."""
    results: dict[str, list] = {name: [] for name in trees}
    for _ in range(repeats):
        for name, src in trees.items():
            r = _in_child(run, items, src, *extra)
            if "error" in r:
                print(f"skipping {name!r}: {r['error']}", flush=True)
            else:
                results[name].append(r)
    return results


def overlap(args) -> None:
    items, source = _pipeline_items(args)
    trees = {"real3d": None, "real3d [baseline]": args.baseline_src} if args.baseline_src else {"real3d": None}
    results = _alternate(trees, args.repeats, _run_overlap, items, tuple(args.size))

    from real3d.core.machine import describe_machine

    print(f"\nmachine: {describe_machine(('numpy', 'numba', 'real3d'))}")
    print(
        f"frames: {len(items)} x {args.size[0]}x{args.size[1]} from {source} (seed {args.seed}), fused as the "
        f"pipeline calls it; {args.repeats} repeats alternating, medians\n"
    )
    print(
        "| tree | fusion ms/frame alone | with the numpy thread | numpy thread's CPU share during fusion / alone "
        "| fusion CPU time without the GIL |"
    )
    print("|---|---|---|---|---|")
    for name, rs in results.items():
        if rs:
            med = {k: float(np.median([r[k] for r in rs])) for k in ("alone", "together", "rate", "nogil")}
            nogil = "n/a" if np.isnan(med["nogil"]) else f"{100 * med['nogil']:.0f} %"
            print(f"| {name} | {med['alone']:.2f} | {med['together']:.2f} | {med['rate']:.2f} | {nogil} |")


# The stages of SemanticMap.integrate that ``--kernels`` times: (module, attribute), an
# attribute of a class as "Class.method"; those a tree lacks are left out.
_STAGES = (
    ("real3d.mapping.fusion_kernels", "fine_rays"),
    ("real3d.mapping.fusion_kernels", "project_voxels"),
    ("real3d.mapping.fusion_kernels", "gather_chw"),
    ("real3d.mapping.fusion_kernels", "fuse_voxels"),
    ("real3d.mapping.fusion_kernels", "free_cells"),
    ("real3d.mapping.hashing", "_lookup_kernel"),
    ("real3d.mapping.hashing", "_claim_kernel"),
    ("real3d.mapping.hashing", "VoxelHash._grow"),
    ("real3d.mapping.storage", "MapStorage._ensure_capacity"),
    ("real3d.mapping.semantic_map", "SemanticMap._carve_free"),
    ("real3d.mapping.semantic_map", "SemanticMap.integrate"),
)


def _run_kernels(items, baseline_src: str | None, inputs_in_cache: bool, q) -> None:
    """CPU time per frame (this thread's) in each of ``_STAGES`` while fusing ``items`` as
    the pipeline calls it (stages nest: ``_carve_free`` holds ``free_cells`` and a hash
    insertion, ``integrate`` everything); with ``inputs_in_cache`` each frame's inputs are
    read first (``_read_inputs``, outside the stages)."""
    import importlib

    try:
        if baseline_src:
            _use_mapping_from(baseline_src)
        from real3d.mapping import SemanticMap
        from real3d.mapping.config import PIPELINE_MAP_CONFIG

        spent: dict[str, float] = {}

        def timed(name, f):
            def call(*a, **kw):
                c = time.thread_time()
                try:
                    return f(*a, **kw)
                finally:
                    spent[name] = spent.get(name, 0.0) + time.thread_time() - c

            return call

        for mod_name, attr in _STAGES:
            owner = importlib.import_module(mod_name)
            *cls, name = attr.split(".")
            if cls:
                owner = getattr(owner, cls[0], None)
            if owner is not None and hasattr(owner, name):
                setattr(owner, name, timed(attr, getattr(owner, name)))
        m = SemanticMap(PIPELINE_MAP_CONFIG)
        m.integrate(items[0][1], items[0][2])  # warm-up, untimed
        spent.clear()
        for it in items[1:]:
            if inputs_in_cache:
                _read_inputs(it)
            m.integrate(it[1], it[2])
        q.put({k: v * 1e3 / (len(items) - 1) for k, v in spent.items()})
    except Exception as e:  # a baseline tree that does not fit this one
        q.put({"error": f"{type(e).__name__}: {e}"})


def kernels(args) -> None:
    """Per-stage CPU ms/frame of fusion as the pipeline calls it, this tree and
    ``--baseline-src`` alternating; medians over the repeats."""
    items, source = _pipeline_items(args)
    trees = {"real3d": None, "[baseline]": args.baseline_src} if args.baseline_src else {"real3d": None}
    results = _alternate(trees, args.repeats, _run_kernels, items, args.inputs_in_cache)

    from real3d.core.machine import describe_machine

    print(f"\nmachine: {describe_machine(('numpy', 'numba', 'real3d'))}")
    print(
        f"frames: {len(items)} x {args.size[0]}x{args.size[1]} from {source} (seed {args.seed}), fused as the "
        f"pipeline calls it; CPU ms/frame per stage, {args.repeats} repeats alternating, medians"
        + ("; each frame's inputs read just before it (in cache)" if args.inputs_in_cache else "")
        + "\n"
    )
    names = list(trees)
    print("| stage | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for _, attr in _STAGES:
        cells = []
        for name in names:
            vals = [r[attr] for r in results[name] if attr in r]
            cells.append(f"{np.median(vals):.3f}" if vals else "n/a")
        print(f"| {attr} | " + " | ".join(cells) + " |")


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


def stages(args) -> None:
    """Scene graph, costmap and planners on a map fused from the frames' ground truth."""
    from real3d.mapping import SemanticMap
    from real3d.nav import CostmapConfig, astar, build_costmap, route_skimage
    from real3d.scene import SceneGraph

    seq, source = _frames(args)
    frames = list(seq)
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

    print(f"\nmachine: {describe_machine(('numpy', 'scipy', 'skimage', 'real3d'))}")
    print(f"frames: {len(frames)} x {args.size[0]}x{args.size[1]} from {source} (seed {args.seed})\n")
    print("| stage | median ms |\n|---|---|")
    print(f"| scene graph update (every 10 frames, {len(g.objects())} objects) | {np.median(graph_ms):.1f} |")
    print(f"| costmap build ({cm.cost.shape[0]}x{cm.cost.shape[1]} cells at 5 cm) | {np.median(cost_ms):.1f} |")
    print(f"| plan A* (own) on that costmap | {np.median(plan_ms['astar']):.1f} |")
    print(f"| plan skimage route_through_array on that costmap | {np.median(plan_ms['skimage']):.1f} |")
    print(f"| plan A* (own), 400x400 with a wall | {big_ms['astar']:.1f} |")
    print(f"| plan skimage, 400x400 with a wall | {big_ms['skimage']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--toy", action="store_true", help="toy scenes instead of the data engine")
    ap.add_argument("--baseline-src", default=None, help="also time real3d.mapping from this src folder")
    ap.add_argument("--skip-open3d", action="store_true")
    ap.add_argument("--stages", action="store_true", help="scene graph, costmap and planner timings instead")
    ap.add_argument("--scaling", action="store_true", help="map memory vs scene size instead")
    ap.add_argument("--overlap", action="store_true", help="fusion beside a numpy thread (GIL release) instead")
    ap.add_argument(
        "--inputs-in-cache",
        action="store_true",
        help="read each frame's depth, colour, labels and probabilities just before fusing it (untimed)",
    )
    ap.add_argument("--kernels", action="store_true", help="CPU time per fusion stage (kernels, hashing) instead")
    ap.add_argument(
        "--channels-last", action="store_true", help="also fuse the probabilities from channels-last memory"
    )
    ap.add_argument("--frames-per-room", type=int, default=100)
    args = ap.parse_args()
    if args.scaling:
        _scaling(args)
    elif args.overlap:
        overlap(args)
    elif args.kernels:
        kernels(args)
    elif args.stages:
        stages(args)
    else:
        fusion(args)


if __name__ == "__main__":
    main()
