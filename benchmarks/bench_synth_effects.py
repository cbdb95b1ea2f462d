"""Per-frame costs of the data engine's appearance and sensor models, on one core.

Times TextureBank construction, texel lookup (``sample_texture``), the camera model
(``apply_camera_effects``) and the depth sensor model (``simulate_depth``) at 240x320 and
480x640. The randomised steps cost a different amount on every frame (blur, JPEG and so on
are drawn per frame), so each call gets a fresh generator and the table gives the median
and the mean over the repeats; the mean is what a data loader pays on average. Baselines
measured in the same run: a bare PIL JPEG round trip and a plain sRGB encoding of the same
image, so figures from a loaded or a different machine can be compared. The last column
(mean over draws of the best of five runs of each draw) estimates the cost on an idle core.

BLAS and OpenMP are pinned to one thread before numpy loads (the budget is per core).

    python benchmarks/bench_synth_effects.py --repeats 200
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from real3d.core import Intrinsics  # noqa: E402
from real3d.core.machine import describe_machine  # noqa: E402
from real3d.synth.camera_effects import (  # noqa: E402
    CameraEffectsConfig,
    apply_camera_effects,
    linear_to_srgb,
)
from real3d.synth.sensor import DepthSensorConfig, simulate_depth  # noqa: E402
from real3d.synth.textures import TextureBank, sample_texture  # noqa: E402


def _times_ms(fn, repeats: int, warmup: int = 3, best_of: int = 5):
    """Per-call milliseconds: wall-clock and process CPU time over ``repeats`` draws, and
    for each draw the best wall time of ``best_of`` runs of that same draw.

    On a shared machine the mean over draws of the per-draw best is the steadiest estimate
    of what a call costs on an idle core: each draw still pays for the random effects it
    picks (blur, JPEG, ...), but waiting for a busy core is filtered out.
    """
    for i in range(warmup):
        fn(i)
    wall, cpu, best = [], [], []
    for i in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn(i)
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - t) * 1000)
        runs = [wall[-1]]
        for _ in range(best_of - 1):
            t = time.perf_counter()
            fn(i)
            runs.append((time.perf_counter() - t) * 1000)
        best.append(min(runs))
    return wall, cpu, best


def _room(h: int, w: int, bank: TextureBank, rng: np.random.Generator):
    """A plausible frame: back wall, floor, a box; radiance textured from the bank, depth,
    normals, albedo and a specular patch that agree with each other."""
    intr = Intrinsics.from_fov(w, h, np.deg2rad(60.0))
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    ry = (v - intr.cy) / intr.fy
    rx = (u - intr.cx) / intr.fx
    cam_h = 1.0  # camera 1 m above the floor, looking horizontally at a wall 3.5 m away
    z_wall = np.full((h, w), 3.5)
    with np.errstate(divide="ignore"):
        z_floor = np.where(ry > 0, cam_h / np.maximum(ry, 1e-9), np.inf)
    floor = z_floor < z_wall
    depth = np.where(floor, z_floor, z_wall)
    normals = np.zeros((h, w, 3))
    normals[..., 2] = -1.0
    normals[floor] = (0.0, -1.0, 0.0)
    box = (np.abs(rx * 1.8 - 0.3) < 0.35) & (ry * 1.8 > -0.2) & (ry * 1.8 < cam_h)
    depth[box] = 1.8
    normals[box] = (0.0, 0.0, -1.0)
    tex_id = np.where(floor, bank.ids("wood")[0], bank.ids("plaster")[0])
    tex_id[box] = bank.ids("fabric")[0]
    uv = np.stack([u * 1.5, v * 1.5 + floor * depth * 20], -1).reshape(-1, 2)
    base = np.where(floor[..., None], (0.35, 0.2, 0.1), (0.7, 0.7, 0.65))
    base[box] = (0.1, 0.2, 0.5)
    albedo = sample_texture(bank.images, tex_id.ravel(), uv).reshape(h, w, 3) * base
    shade = np.abs(normals[..., 2]) * 0.8 + 0.2
    radiance = (albedo * shade[..., None] * rng.uniform(0.5, 2.0)).astype(np.float32)
    radiance[: h // 5, w // 2 : w // 2 + w // 6] = 6.0  # a bright window
    spec = np.zeros((h, w), bool)
    spec[h // 2 : h // 2 + h // 8, : w // 8] = True
    lum = (albedo @ np.array([0.2126, 0.7152, 0.0722])).astype(np.float32)
    return (intr, radiance, depth.astype(np.float32), normals.astype(np.float32), lum, spec, tex_id.ravel(), uv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--bank-repeats", type=int, default=3)
    ap.add_argument("--sizes", default="240x320,480x640")
    args = ap.parse_args()

    print(f"machine: {describe_machine(('numpy', 'scipy', 'PIL'))}")
    print(f"1 BLAS/OpenMP thread; repeats {args.repeats}")
    print()

    build, build_cpu, _ = _times_ms(lambda i: TextureBank(seed=i, size=256), args.bank_repeats, warmup=1, best_of=1)
    bank = TextureBank(0, 256)
    print(
        f"TextureBank(size=256): {len(bank.images)} textures, {len(bank.photos)} photos, "
        f"build median {statistics.median(build):.0f} ms wall, "
        f"{statistics.median(build_cpu):.0f} ms CPU"
    )
    print()
    print("| step | size | wall median ms | wall mean ms | CPU median ms | CPU mean ms | mean of per-draw best ms |")
    print("|---|---|---|---|---|---|---|")

    def row(name, size, times):
        wall, cpu, best = times
        print(
            f"| {name} | {size} | {statistics.median(wall):.2f} | {statistics.mean(wall):.2f} "
            f"| {statistics.median(cpu):.2f} | {statistics.mean(cpu):.2f} "
            f"| {statistics.mean(best):.2f} |"
        )

    for spec in args.sizes.split(","):
        h, w = (int(x) for x in spec.lower().split("x"))
        label = f"{h}x{w}"
        rng0 = np.random.default_rng(0)
        intr, radiance, depth, normals, lum, specular, tex_id, uv = _room(h, w, bank, rng0)
        n = h * w
        rand_uv = rng0.uniform(-1e4, 1e4, (n, 2)).astype(np.float32)
        rand_id = rng0.integers(0, len(bank.images), n)
        uv32 = uv.astype(np.float32)
        reps = args.repeats

        row(
            f"sample_texture nearest, N={n} (scene uv)",
            label,
            _times_ms(lambda i: sample_texture(bank.images, tex_id, uv32), reps),
        )
        row(
            f"sample_texture nearest, N={n} (random uv)",
            label,
            _times_ms(lambda i: sample_texture(bank.images, rand_id, rand_uv), reps),
        )
        row(
            f"sample_texture bilinear, N={n} (scene uv)",
            label,
            _times_ms(lambda i: sample_texture(bank.images, tex_id, uv32, bilinear=True), reps),
        )
        row(
            "apply_camera_effects default",
            label,
            _times_ms(lambda i: apply_camera_effects(radiance, np.random.default_rng(i)), reps),
        )
        row(
            "apply_camera_effects none()",
            label,
            _times_ms(
                lambda i: apply_camera_effects(radiance, np.random.default_rng(i), CameraEffectsConfig.none()), reps
            ),
        )
        row(
            "simulate_depth default (albedo, specular)",
            label,
            _times_ms(
                lambda i: simulate_depth(
                    depth, normals, intr, np.random.default_rng(i), albedo=lum, specular_mask=specular
                ),
                reps,
            ),
        )
        row(
            "simulate_depth noise_only()",
            label,
            _times_ms(
                lambda i: simulate_depth(
                    depth, normals, intr, np.random.default_rng(i), DepthSensorConfig.noise_only()
                ),
                reps,
            ),
        )
        u8 = apply_camera_effects(radiance, rng0, CameraEffectsConfig.none())

        def jpeg(i):
            buf = io.BytesIO()
            Image.fromarray(u8).save(buf, format="JPEG", quality=80)
            buf.seek(0)
            with Image.open(buf) as im:
                np.array(im)

        row("baseline: PIL JPEG round trip (q=80)", label, _times_ms(jpeg, reps))
        row("baseline: sRGB encode (np.power)", label, _times_ms(lambda i: linear_to_srgb(radiance), reps))


if __name__ == "__main__":
    main()
