"""The data engine's depth sensor model against real depth captures, statistic by statistic.

python benchmarks/eval_depth_sensor.py --frames 24 --variant axial_a_m=0.0005,axial_b_per_m=0.0012 \
    --json docs/depth_sensor_stats.json --figure docs/images/depth_sensor_real_vs_engine.png

Real frames: every real capture with metric depth in ``../shared/data/real`` (see its
README), grouped by sensor; the NYUv2 sample (depth known only up to scale) and the
ICL-NUIM synthetic sequence are left out. Engine frames: ``SynthDataset`` home views (the
items of ``synth:kind=home,size=HxW,seed=S,n=N,fps=F``) with the sensor model at its
defaults, at 480x640 and 240x320, and with ``--variant`` once more at the first size with
other sensor settings (a proposal's figures). Statistics: ``real3d.eval.depth_stats`` (no ground truth
needed). Prints three tables (holes, range, quantisation and noise), writes the per-frame
and per-group figures as JSON and a picture of real and engine depth maps on one colour
scale with the holes in red.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from real3d.eval.depth_stats import DepthStats, DepthStatsConfig, depth_stats, summarize

REPO = Path(__file__).resolve().parents[1]

KINECT_V1_NYU = "Kinect v1, registered (NYU, SUN)"
KINECT_V1_RAW = "Kinect v1, raw depth camera"
TUM = "TUM (Kinect v1, OpenNI)"
KINECT_V2 = "Kinect v2"
SUN_UNNAMED = "SUN hallway (sensor unnamed)"
# SUN RGB-D scenes here by sensor: the 730x530 office is a Kinect v2 frame, the 561x427
# one a Kinect v1 frame of NYU (README of the samples)
SUN_SENSOR = {"2014-12-18_11-31-54_260595134347": KINECT_V2, "img_0063": KINECT_V1_NYU}


@dataclass
class Sample:
    """One depth frame: group, source, depth (metres, 0 = invalid), colour or None, and the
    focal length at the sensor model's 640-pixel native width (None when unknown)."""

    group: str
    source: str
    depth_m: np.ndarray
    rgb: np.ndarray | None
    fx_native_px: float | None


def real_samples(real: Path) -> list[Sample]:
    """Every real capture with metric depth in ``real`` (the shared samples folder)."""
    from real3d.io import open_sequence
    from real3d.io.codecs import decode_depth_mm, decode_depth_sun, decode_depth_tum, decode_rgb, decode_u16
    from real3d.io.nyu import NYU_DEPTH_INTRINSICS
    from real3d.io.real_samples import sample_options

    out: list[Sample] = []

    def fx640(intr) -> float:
        return intr.fx * 640.0 / intr.width

    for name, group in (("joinmap_kinect_seq", KINECT_V1_NYU), ("tum_pair", TUM)):
        with open_sequence(real / name, **sample_options(name)) as seq:
            for i, f in enumerate(seq):
                out.append(Sample(group, f"{name}/{i}", f.depth_m, f.rgb, fx640(f.intrinsics)))
    with open_sequence(real / "sunrgbd") as seq:
        for f in seq:
            scene = f.meta["scene"]
            out.append(Sample(SUN_SENSOR[scene], f"sunrgbd/{scene[:24]}", f.depth_m, f.rgb, fx640(f.intrinsics)))
    single = real / "single_frames"
    d, _ = decode_depth_tum(decode_u16(single / "TUM_depth.png"))
    out.append(Sample(TUM, "single_frames/TUM", d, decode_rgb(single / "TUM_color.png"), 525.0))
    d, _ = decode_depth_sun(decode_u16(single / "SUN_depth.png"))
    out.append(Sample(SUN_UNNAMED, "single_frames/SUN", d, decode_rgb(single / "SUN_color.jpg"), None))
    # NYU raw: the depth camera's own image (registering it to colour leaves resampling
    # cracks and breaks the disparity levels), so no colour figures for it
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "nyu_raw"
        raw.mkdir()
        shutil.copy(single / "NYU_color.ppm", raw / "r-1.000000-1.ppm")
        shutil.copy(single / "NYU_depth.pgm", raw / "d-1.000000-2.pgm")
        with open_sequence(raw, register=False) as seq:
            f = seq[0]
            out.append(Sample(KINECT_V1_RAW, "single_frames/NYU raw", f.depth_m, None, fx640(NYU_DEPTH_INTRINSICS)))
    d, _ = decode_depth_mm(decode_u16(single / "depth_only_person_kinect.png"))
    out.append(Sample(KINECT_V1_RAW, "single_frames/depth_only_person_kinect", d, None, None))
    d, _ = decode_depth_mm(decode_u16(real / "kinect_v2_emsanet" / "sample_depth.png"))
    out.append(
        Sample(KINECT_V2, "kinect_v2_emsanet", d, decode_rgb(real / "kinect_v2_emsanet" / "sample_rgb.png"), None)
    )
    # a time-of-flight camera has no disparity quantiser: no model constant for it
    return [Sample(s.group, s.source, s.depth_m, s.rgb, None) if s.group == KINECT_V2 else s for s in out]


def parse_overrides(text: str) -> dict:
    """``"name=value,name=low:high"`` -> DepthSensorConfig overrides (floats, ranges as tuples)."""
    out = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        parts = [float(x) for x in value.split(":")]
        out[name.strip()] = tuple(parts) if len(parts) > 1 else parts[0]
    return out


def engine_samples(
    n: int, size_hw: tuple[int, int], seed: int, fps: int, overrides: dict | None = None
) -> list[Sample]:
    """``n`` home views of the engine with the sensor model at its defaults, or with
    ``overrides`` of DepthSensorConfig fields."""
    from real3d.synth import SynthDataset
    from real3d.synth.render import RenderConfig
    from real3d.synth.sensor import DepthSensorConfig

    rc = RenderConfig(sensor=DepthSensorConfig(**overrides)) if overrides else None
    ds = SynthDataset(n, size_hw=size_hw, kind="home", seed=seed, frames_per_scene=fps, render_config=rc)
    group = f"engine {size_hw[0]}x{size_hw[1]}" + (" variant" if overrides else "")
    out = []
    for i in range(n):
        f = ds.frame(i)
        out.append(Sample(group, f"synth seed={seed} item {i}", f.depth_m, f.rgb, f.intrinsics.fx * 640.0 / size_hw[1]))
    return out


def _fmt(x: float, nd: int = 2) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.1f}"


def tables(groups: dict[str, dict], cfg: DepthStatsConfig) -> str:
    """Markdown tables of the per-group summaries."""
    bins = [f"{lo:g}-{hi:g}" for lo, hi in cfg.depth_bins_m]
    lines = [
        f"Holes (shares in %; edge band +-{cfg.edge_band_px:g} px, gaps and blob areas at 640 px width):",
        "",
        "| sensor | frames | invalid | border-connected | at edges | elsewhere | edge gap % | gap px "
        "| far side left % | dark | bright | blobs/Mpx | blob px |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, g in groups.items():
        s: DepthStats = g["summary"]
        lines.append(
            f"| {name} | {g['frames']} | {_pct(s.invalid_share)} | {_pct(s.border_invalid_share)} "
            f"| {_pct(s.edge_invalid_share)} "
            f"| {_pct(s.nonedge_invalid_share)} | {_pct(s.edge_gap_share)} | {_fmt(s.edge_gap_median_px, 1)} "
            f"| {_pct(s.edge_gap_far_left_share)} | {_pct(s.dark_invalid_share)} | {_pct(s.bright_invalid_share)} "
            f"| {_fmt(s.blobs_per_mpx, 0)} | {_fmt(s.blob_median_px, 1)} |"
        )
    lines += [
        "",
        f"Range (metres; far = share of valid depth beyond {cfg.far_m:g} m, %):",
        "",
        "| sensor | p1 | p50 | p99 | far |",
        "|---|---|---|---|---|",
    ]
    for name, g in groups.items():
        s = g["summary"]
        lines.append(f"| {name} | {_fmt(s.p01_m)} | {_fmt(s.p50_m)} | {_fmt(s.p99_m)} | {_pct(s.far_share)} |")
    lines += [
        "",
        "Quantisation and noise per depth bin (m): distinct-value step (mm); K = median z^2/step "
        "(px m; a disparity quantiser z = K/d has constant K, the model K = f*b*8 at the frame's "
        "focal length); mean |second difference| along rows (mm):",
        "",
        "| sensor | "
        + " | ".join(f"step {b}" for b in bins)
        + " | "
        + " | ".join(f"K {b}" for b in bins)
        + " | model K | "
        + " | ".join(f"noise {b}" for b in bins)
        + " |",
        "|---|" + "---|" * (3 * len(bins) + 1),
    ]
    for name, g in groups.items():
        s = g["summary"]
        lines.append(
            f"| {name} | "
            + " | ".join(_fmt(x, 1) for x in s.step_mm)
            + " | "
            + " | ".join(_fmt(x, 0) for x in s.step_k_px_m)
            + f" | {_fmt(g['model_k_px_m'], 0)} | "
            + " | ".join(_fmt(x, 1) for x in s.noise_mean_mm)
            + " |"
        )
    return "\n".join(lines)


def _tile(s: Sample, size_hw: tuple[int, int], max_m: float) -> Image.Image:
    """Depth on a fixed colour scale (0..max_m), holes red, resized (nearest) to size_hw."""
    from real3d.viz.contact_sheet import colorize_depth

    img = colorize_depth(s.depth_m, max_m=max_m)
    img[s.depth_m <= 0] = (230, 0, 0)
    h, w = s.depth_m.shape
    # fit inside the tile keeping the aspect ratio
    k = min(size_hw[0] / h, size_hw[1] / w)
    im = Image.fromarray(img).resize((max(1, round(w * k)), max(1, round(h * k))), Image.NEAREST)
    tile = Image.new("RGB", (size_hw[1], size_hw[0]), "white")
    tile.paste(im, ((size_hw[1] - im.width) // 2, (size_hw[0] - im.height) // 2))
    return tile


def figure(samples: list[Sample], path: Path, max_m: float = 6.0, cols: int = 4) -> None:
    """A grid of depth maps with captions, written as a palette PNG."""
    from real3d.core.files import atomic_path

    th, tw, cap = 180, 240, 26
    rows = math.ceil(len(samples) / cols)
    sheet = Image.new("RGB", (cols * tw, rows * (th + cap) + 24), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, s in enumerate(samples):
        r, c = divmod(i, cols)
        x, y = c * tw, r * (th + cap)
        draw.text((x + 4, y + 2), s.group, fill="black", font=font)
        draw.text((x + 4, y + 13), s.source[-38:], fill=(90, 90, 90), font=font)
        sheet.paste(_tile(s, (th, tw), max_m), (x, y + cap))
    # colour bar
    bar = np.linspace(0.01, max_m, cols * tw - 80, dtype=np.float32)[None, :].repeat(10, 0)
    from real3d.viz.contact_sheet import colorize_depth

    sheet.paste(Image.fromarray(colorize_depth(bar, max_m=max_m)), (40, rows * (th + cap) + 8))
    draw.text((4, rows * (th + cap) + 7), "0 m", fill="black", font=font)
    draw.text((cols * tw - 36, rows * (th + cap) + 7), f"{max_m:g} m", fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sheet.quantize(colors=128).save(tmp)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24, help="engine views per size")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fps", type=int, default=4, help="engine views per scene")
    ap.add_argument("--sizes", default="480x640,240x320")
    ap.add_argument("--real", default=None, help="real samples folder (default ../shared/data/real)")
    ap.add_argument(
        "--variant",
        default="",
        help="also run the engine at the first size with these DepthSensorConfig settings, "
        "e.g. axial_b_per_m=0.0008,dark_signal=0.001:0.004",
    )
    ap.add_argument("--json", default=None)
    ap.add_argument("--figure", default=None)
    args = ap.parse_args(argv)

    from real3d.core.machine import describe_machine
    from real3d.io.real_samples import real_samples_dir
    from real3d.synth.sensor import DepthSensorConfig, disparity_step_m

    cfg = DepthStatsConfig()
    real = Path(args.real) if args.real else real_samples_dir(REPO)
    t0 = time.perf_counter()
    samples: list[Sample] = []
    for size in args.sizes.split(","):
        h, w = (int(x) for x in size.split("x"))
        samples += engine_samples(args.frames, (h, w), args.seed, args.fps)
        if args.variant and not any(s.group.endswith("variant") for s in samples):
            samples += engine_samples(args.frames, (h, w), args.seed, args.fps, parse_overrides(args.variant))
    t_engine = time.perf_counter() - t0
    if real.is_dir():
        samples += real_samples(real)
    else:
        print(f"no real samples at {real}: engine only", file=sys.stderr)

    per_frame, by_group = [], {}
    for s in samples:
        st = depth_stats(s.depth_m, s.rgb, cfg)
        # the model's quantiser constant f*b*steps at this frame's focal length
        k_model = 1.0 / float(disparity_step_m(1.0, s.fx_native_px)) if s.fx_native_px else math.nan
        per_frame.append({"group": s.group, "source": s.source, "shape": list(s.depth_m.shape), **st.to_dict()})
        g = by_group.setdefault(s.group, {"stats": [], "k": [], "samples": []})
        g["stats"].append(st)
        g["k"].append(k_model)
        g["samples"].append(s)
    groups = {}
    for name, g in by_group.items():
        k = np.array(g["k"])
        groups[name] = {
            "frames": len(g["stats"]),
            "summary": summarize(g["stats"]),
            "model_k_px_m": float(np.nanmean(k)) if np.isfinite(k).any() else math.nan,
        }
    machine = describe_machine(("real3d", "numpy", "scipy", "numba"))
    print(f"machine: {machine}")
    print(f"engine: {args.frames} home views per size, seed {args.seed}, {args.fps} per scene ({t_engine:.0f} s)")
    print(f"sensor model defaults: {DepthSensorConfig()}")
    if args.variant:
        print(f"variant: {parse_overrides(args.variant)}")
    print()
    print(tables(groups, cfg))

    if args.json:
        doc = {
            "command": "python benchmarks/eval_depth_sensor.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": machine,
            "variant": parse_overrides(args.variant),
            "config": {k: v for k, v in cfg.__dict__.items()},
            "groups": {
                name: {
                    "frames": g["frames"],
                    "model_k_px_m": g["model_k_px_m"],
                    **g["summary"].to_dict(),
                }
                for name, g in groups.items()
            },
            "frames": per_frame,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n")
    if args.figure:
        # per sensor the two frames with the most depth edges: the ones that show most
        picks = []
        for name, g in by_group.items():
            if not name.endswith("variant"):
                order = sorted(range(len(g["stats"])), key=lambda i: -g["stats"][i].edge_px_share)
                picks += [g["samples"][i] for i in order[:2]]
        figure(picks, Path(args.figure))


if __name__ == "__main__":
    main()
