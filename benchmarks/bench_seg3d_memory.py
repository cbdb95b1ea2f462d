"""Peak memory and forward time of the 3D networks on one room: the sparse U-Net (Seg3DNet)
against the dense-chunk, multi-resolution and PointNet++ baselines, in a table.

Method. Every measurement runs in a fresh Python process (so no allocator cache from an
earlier model hides memory), with glibc's mmap threshold fixed at 128 KiB so freed large
blocks go back to the system. In the process: load the room, build the network (random
weights, eval mode, ``torch.no_grad``), encode the voxels, then

* peak memory = peak resident set size during the first forward minus the resident size
  just before it (``VmHWM`` after resetting it through ``/proc/self/clear_refs``, minus
  ``VmRSS``): everything the forward allocates, tensors, kernel maps and library buffers;
* forward time = the second forward (kernel maps, chunk windows and FPS included: they
  are part of every new map).

Processes alternate between the models (A, B, C, ... A, B, C, ...) for ``--rounds`` rounds;
the table gives medians. All at ``--threads`` torch threads.

    nice -n 10 python benchmarks/bench_seg3d_memory.py --sample /work/data/base3d/train/seed_home_003006.npz
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "sparse U-Net (seg3d-tiny)": ("seg3d-tiny", {}),
    "multi-resolution": ("multires", {}),
    "PointNet++": ("pointnet2", {}),
    "dense, chunks of 64": ("dense-chunk", {"chunk_cells": 64}),
    "dense, chunks of 32": ("dense-chunk", {"chunk_cells": 32}),
    "dense, one window": ("dense-chunk", {"chunk_cells": 1 << 20}),
}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def worker(name: str, sample_path: str, threads: int) -> dict:
    """One measurement (see the module docstring); returns a dict for the parent."""
    import gc
    from dataclasses import replace

    import torch

    from real3d.models.seg3d import PRESETS3D, Seg3DNet, voxel_arrays
    from real3d.models.seg3d_baselines import BASELINES, DenseChunkNet, create_baseline
    from real3d.train.map_data import MapSample

    torch.set_num_threads(threads)
    model, options = VARIANTS[name]
    torch.manual_seed(0)
    if model == "seg3d-tiny":
        net = Seg3DNet(replace(PRESETS3D["seg3d-tiny"], instance_head=False))
    else:
        net = create_baseline(replace(BASELINES[model], **options))
    net.eval()
    sample = MapSample.load(sample_path)
    x, prior, _ = net.input_batch([voxel_arrays(sample)])
    extra = {}
    if isinstance(net, DenseChunkNet):
        from real3d.models.seg3d_baselines import chunk_windows

        wins = list(chunk_windows(x.coords[:, 1:].long(), net.config.chunk_cells, net.halo_cells, net.config.align))
        extra = {
            "chunks": len(wins),
            "dense_cells": int(sum(int(s.prod()) for *_, s in wins)),
            "largest_window": max(tuple(s.tolist()) for *_, s in wins),
        }

    def run():
        with torch.no_grad():
            return net(x, prior)["logits"]

    gc.collect()
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    out = run()
    peak = _status_kib("VmHWM")
    del out
    gc.collect()
    t = time.perf_counter()
    run()
    seconds = time.perf_counter() - t
    return {
        "name": name,
        "voxels": x.num_sites,
        "peak_mib": (peak - before) / 1024,
        "forward_s": seconds,
        "parameters": sum(p.numel() for p in net.parameters()),
        **extra,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", required=True, help="MapSample .npz of one room (~100k voxels)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default=None, help="comma list of variant names (default: all)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help="JSON with every measurement")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.sample, args.threads)))
        return

    import numpy as np

    from real3d.core.machine import describe_machine

    names = list(VARIANTS) if args.only is None else args.only.split(",")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    runs: dict[str, list[dict]] = {n: [] for n in names}
    print(describe_machine(("numpy", "torch")), flush=True)
    for r in range(args.rounds):
        for name in names:
            cmd = [sys.executable, __file__, "--worker", name, "--sample", args.sample, "--threads", str(args.threads)]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise SystemExit(f"{name} failed:\n{res.stderr[-3000:]}")
            m = json.loads(res.stdout.strip().splitlines()[-1])
            runs[name].append(m)
            print(f"round {r + 1} {name}: {m['peak_mib']:.0f} MiB, {m['forward_s']:.2f} s", flush=True)
    first = runs[names[0]][0]
    print(f"\n{first['voxels']} voxels, {args.threads} thread(s), medians of {args.rounds} runs each")
    print("| network | parameters | peak memory MiB | forward s | dense cells (chunks) |")
    print("|---|---|---|---|---|")
    for name in names:
        rs = runs[name]
        cells = f"{rs[0]['dense_cells']:,} ({rs[0]['chunks']})" if "dense_cells" in rs[0] else "-"
        print(
            f"| {name} | {rs[0]['parameters']:,} | {np.median([m['peak_mib'] for m in rs]):.0f} | "
            f"{np.median([m['forward_s'] for m in rs]):.2f} | {cells} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": describe_machine(("numpy", "torch")), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
