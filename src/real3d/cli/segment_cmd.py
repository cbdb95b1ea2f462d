"""``real3d segment INPUT [DEPTH] --out DIR``: 2D segmentation only, no map.

INPUT is one colour image (optionally with its depth image as DEPTH), a folder of colour
images (each with its depth image where one is named like it: ``rgb.png`` + ``depth.png``,
``rgb_0001.png`` + ``depth_0001.png``), or any sequence ``open_sequence`` reads (a folder of
colour/depth pairs, a dataset, a ROS bag). Depth of another size than its colour image is
refused, never stretched. For each image OUT gets::

    labels/NAME.png     uint8 NYUv2-13 ids (0 = void), the image's size
    color/NAME.png      the labels in the label set's colours
    overlay/NAME.png    the colours blended over the image (unless --no-overlay)
    probs/NAME.npz      with --probs: "probs" (13, H, W) float16 class probabilities of
                        classes 1..13 (no void channel) and "class_names"
    summary.json        what was read, the models, each image's classes and confidence,
                        the images that failed and why

The set is written into a staging folder and swapped in whole at the end (an earlier set
in OUT is replaced, never mixed). An image that cannot be read is reported in summary.json
and the others are segmented; the command fails (exit 1) when none could be.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import typer

#: summary.json's schema name and version
SUMMARY_SCHEMA = "real3d.segment"
SUMMARY_VERSION = 1
#: what an output folder of an earlier ``segment`` holds
_SET_ENTRIES = ("labels", "color", "overlay", "probs", "summary.json")
#: colour-image suffixes of a plain image folder
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")
#: further depth-image suffixes
_DEPTH_SUFFIXES = (".pgm", ".tif", ".tiff")


def _placeholder_intrinsics(h: int, w: int):
    """Intrinsics for an image without calibration: 2D segmentation does not use them."""
    from real3d.core import Intrinsics

    return Intrinsics(float(w), float(w), (w - 1) / 2, (h - 1) / 2, w, h)


def check_segment_out(out: Path) -> Path:
    """``out`` as a new folder or one an earlier ``real3d segment`` wrote (it is replaced
    whole); InputError for a file, a folder holding other files, or one that cannot be
    written."""
    from real3d.core.errors import InputError

    path = Path(os.path.realpath(out))
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {out}: expected a folder (or a new name), got a file")
    if path.exists():
        foreign = sorted(e.name for e in path.iterdir() if e.name not in _SET_ENTRIES and not e.name.startswith("."))
        if foreign:
            raise InputError(
                f"--out {out}: expected a new folder or one real3d segment wrote, got a folder that also holds "
                + ", ".join(foreign[:5])
                + " (the output set replaces the folder as a whole); choose another folder"
            )
    cwd = Path(os.path.realpath(os.getcwd()))
    if path == cwd or path in cwd.parents:
        raise InputError(f"--out {out}: expected a folder of its own, got the current folder or one above it")
    existing = path if path.exists() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot write in {existing}")
    return path


def _read_single(rgb_path: Path, depth_path: Path | None, depth_encoding: str, depth_scale: float | None):
    """(name, Frame) of one colour image and its optional depth image (refused when its
    size differs from the colour image's: depth is never stretched)."""
    from real3d.core import Frame, InputError, sanitize_depth
    from real3d.io.codecs import decode_rgb
    from real3d.io.folder import read_depth_file

    rgb = decode_rgb(rgb_path)
    depth = None
    if depth_path is not None:
        if not depth_path.is_file():
            raise InputError(f"DEPTH {depth_path}: expected a 16-bit depth image file, got nothing there")
        depth, _ = read_depth_file(depth_path, depth_encoding)
        if depth_scale is not None:
            from real3d.cli.info_cmd import check_depth_scale
            from real3d.io.base import LINEAR_DEPTH_UNITS_M

            depth_scale = check_depth_scale(depth_scale)

            unit = LINEAR_DEPTH_UNITS_M.get(depth_encoding)
            if unit is None:
                raise InputError(f"--depth-scale: not for --depth-encoding {depth_encoding} (not linear)")
            depth = depth * np.float32(depth_scale / unit)
        if depth.shape != rgb.shape[:2]:
            raise InputError(
                f"DEPTH {depth_path}: {depth.shape[1]} x {depth.shape[0]} pixels, the colour image is "
                f"{rgb.shape[1]} x {rgb.shape[0]}; expected depth registered to the colour image (same size)"
            )
        depth, _ = sanitize_depth(depth)
    return rgb_path.stem, Frame(rgb=rgb, depth_m=depth, intrinsics=_placeholder_intrinsics(*rgb.shape[:2]))


def _image_folder(root: Path) -> list[tuple[Path, Path | None]]:
    """(colour image, its depth image or None) for the images directly in ``root``, in
    natural order. The depth image of ``NAME.png`` is ``NAME_depth.png`` or the name with
    ``rgb`` / ``color`` / ``colour`` / ``image`` replaced by ``depth`` (``rgb.png`` +
    ``depth.png``, ``rgb_0001.png`` + ``depth_0001.png``); PNG, PGM or TIFF."""
    import re

    from real3d.io._files import natural_key

    files = sorted(
        (p for p in root.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES + _DEPTH_SUFFIXES),
        key=lambda p: natural_key(p.name),
    )
    by_stem: dict[str, Path] = {}
    for p in files:
        # a PNG is preferred as a stem's depth image (a JPEG cannot hold 16-bit depth)
        if p.stem not in by_stem or p.suffix.lower() == ".png":
            by_stem[p.stem] = p
    pairs, depths = [], set()
    for p in files:
        if p.suffix.lower() not in _IMAGE_SUFFIXES:
            continue
        names = [p.stem + "_depth"] + [
            re.sub(word, "depth", p.stem, flags=re.IGNORECASE)
            for word in ("colour", "color", "rgb", "image")
            if re.search(word, p.stem, flags=re.IGNORECASE)
        ]
        d = next((by_stem[n] for n in names if n != p.stem and n in by_stem), None)
        if d is not None:
            depths.add(d)
        pairs.append((p, d))
    return [(c, d) for c, d in pairs if c not in depths]


def iter_inputs(
    input: Path,
    depth: Path | None,
    *,
    format: str | None = None,
    intrinsics: str | None = None,
    depth_encoding: str | None = None,
    depth_scale: float | None = None,
    stride: int = 1,
    max_frames: int | None = None,
    **bag,
) -> tuple[str, int | None, Iterator[tuple[str, object]]]:
    """What ``segment`` reads: (kind, number of items when known, iterator of (name,
    Frame or the exception that stopped it)).

    kind is ``"image"`` (INPUT a colour image file), ``"images"`` (a folder of colour
    images that is no known format) or the format name of a sequence.

    Raises:
        FormatError / InputError: INPUT missing, of no known kind, DEPTH given for a
            folder or sequence, DEPTH not the colour image's size.
    """
    from real3d.cli.info_cmd import input_options
    from real3d.core import FormatError, InputError
    from real3d.core.errors import Real3DError
    from real3d.io import detect_format, open_sequence
    from real3d.io.base import MissingIntrinsicsError

    if not input.exists():
        raise FormatError(f"INPUT {input}: not found")
    if input.is_file() and input.suffix.lower() in _IMAGE_SUFFIXES:
        name, frame = _read_single(input, depth, depth_encoding or "mm", depth_scale)
        return "image", 1, iter([(name, frame)])
    if depth is not None:
        raise InputError(f"DEPTH {depth}: expected only with a single colour image as INPUT, got {input}")
    if input.is_dir() and format is None:
        try:
            detect_format(input)
        except FormatError:
            images = _image_folder(input)
            if not images:
                raise FormatError(
                    f"INPUT {input}: no colour images ({', '.join(_IMAGE_SUFFIXES)}) and no known recording layout"
                ) from None
            images = images[::stride][:max_frames]

            def folder_items():
                for c, d in images:
                    try:
                        yield _read_single(c, d, depth_encoding or "mm", depth_scale)
                    except Real3DError as e:
                        yield c.stem, e

            return "images", len(images), folder_items()
    fmt, opts = input_options(
        input, format, intrinsics=intrinsics, depth_encoding=depth_encoding, depth_scale=depth_scale, **bag
    )
    opts["stride"] = stride
    if max_frames is not None:
        opts["max_frames"] = max_frames
    seq = open_sequence(input, format=fmt, **opts)
    if "intrinsics" not in opts and len(seq):
        try:
            seq[0]
        except MissingIntrinsicsError:
            # 2D segmentation needs no calibration: read the frames with a stand-in (the
            # reader scales it to each image's size).
            seq.close()
            opts["intrinsics"] = _placeholder_intrinsics(480, 640)
            seq = open_sequence(input, format=fmt, **opts)
        except Real3DError:
            pass

    def seq_items():
        with seq:
            n = len(seq)
            for k in range(n):
                try:
                    f = seq[k]
                except Real3DError as e:
                    yield f"{k:06d}", e
                    continue
                stem = Path(str(f.meta.get("color_path", ""))).stem
                yield (f"{k:06d}_{stem}" if stem else f"{k:06d}"), f

    return fmt, len(seq), seq_items()


def _png_bytes(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def write_item(staging: Path, name: str, frame, labels: np.ndarray, probs: np.ndarray, overlay: bool, save_probs: bool):
    """Write one image's files into ``staging`` (see the module docstring)."""
    from real3d.core.files import atomic_path, atomic_write_bytes
    from real3d.core.labels import NYU13

    colour = NYU13.colorize(labels)
    atomic_write_bytes(staging / "labels" / f"{name}.png", _png_bytes(np.ascontiguousarray(labels, np.uint8)))
    atomic_write_bytes(staging / "color" / f"{name}.png", _png_bytes(colour))
    if overlay:
        blend = (0.45 * frame.rgb.astype(np.float32) + 0.55 * colour.astype(np.float32)).astype(np.uint8)
        atomic_write_bytes(staging / "overlay" / f"{name}.png", _png_bytes(blend))
    if save_probs:
        with atomic_path(staging / "probs" / f"{name}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, probs=probs.astype(np.float16), class_names=np.array(NYU13.names[1:]))


def image_record(name: str, frame, labels: np.ndarray, probs: np.ndarray, model: str) -> dict:
    """summary.json's entry of one image: size, model, depth share, class shares (% of the
    pixels, classes present only) and the mean top-class probability."""
    from real3d.core.labels import NYU13

    counts = np.bincount(labels.ravel(), minlength=len(NYU13.names))
    total = max(int(labels.size), 1)
    d = frame.depth_m
    return {
        "name": name,
        "size_wh": [int(labels.shape[1]), int(labels.shape[0])],
        "model": model,
        "depth_valid_share": None if d is None else round(float(np.count_nonzero(d)) / d.size, 4),
        "class_share_pct": {NYU13.names[c]: round(100.0 * int(n) / total, 2) for c, n in enumerate(counts) if n},
        "mean_confidence": round(float(probs.max(axis=0).mean()), 4),
    }


def segment(
    input: Path = typer.Argument(
        ..., help="A colour image, a folder of colour images, or any recording real3d info reads."
    ),
    depth: Path | None = typer.Argument(
        None, help="The depth image of a single colour image (16-bit PNG, same size; unit per --depth-encoding)."
    ),
    out: Path = typer.Option(Path("real3d_segment"), "--out", help="Output folder (replaced whole)."),
    model: str = typer.Option(
        "rgbd-default", "--model", help="RGB-D model: pretrained name, preset (random weights) or .safetensors path."
    ),
    rgb_model: str = typer.Option(
        "rgb-default", "--rgb-model", help="Model for images without depth ('none': such images fail)."
    ),
    backend: str = typer.Option("torch", "--backend", help="torch | onnx | int8"),
    threads: int = typer.Option(1, "--threads", min=1, help="torch / onnxruntime intra-op threads."),
    overlay: bool = typer.Option(
        True, "--overlay/--no-overlay", help="Write overlay/NAME.png (labels over the image)."
    ),
    probs: bool = typer.Option(False, "--probs", help="Write probs/NAME.npz (13, H, W) float16 class probabilities."),
    seg_flip: bool = typer.Option(False, "--seg-flip", help="Test-time flip: also segment each mirrored image."),
    seg_scales: str = typer.Option("1", "--seg-scales", help="Comma-separated multiples of the model's size."),
    seg_guided: bool = typer.Option(
        False,
        "--seg-guided",
        help="Force edge-guided upsampling of the probabilities (default: as the model predicts).",
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Segment at most N images."),
    stride: int = typer.Option(1, "--stride", min=1, help="Use every N-th image."),
    format: str | None = typer.Option(None, "--format", help="Skip detection: format name."),
    intrinsics: str | None = typer.Option(None, "--intrinsics", help="fx,fy,cx,cy,width,height (not needed)."),
    depth_encoding: str | None = typer.Option(
        None, "--depth-encoding", help="DEPTH or folder depth: mm | tum | sun | nyu_disparity."
    ),
    depth_scale: float | None = typer.Option(None, "--depth-scale", help="Metres per stored depth unit."),
    rgb_topic: str | None = typer.Option(None, "--rgb-topic", help="ROS bags: colour image topic."),
    depth_topic: str | None = typer.Option(None, "--depth-topic", help="ROS bags: depth image topic."),
) -> None:
    """Segment INPUT's images (2D only) and write label PNGs, coloured labels, overlays and
    summary.json into OUT."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from real3d.cli.eval_cmd import parse_scales
    from real3d.cli.run_cmd import build_pipeline
    from real3d.core.errors import InputError, Real3DError
    from real3d.core.files import atomic_dir, atomic_write_text
    from real3d.core.labels import NYU13
    from real3d.pipeline import segment_frame

    scales = parse_scales(seg_scales, "--seg-scales")
    out_path = check_segment_out(out)
    kind, total, items = iter_inputs(
        input,
        depth,
        format=format,
        intrinsics=intrinsics,
        depth_encoding=depth_encoding,
        depth_scale=depth_scale,
        stride=stride,
        max_frames=max_frames,
        rgb_topic=rgb_topic,
        depth_topic=depth_topic,
    )
    pipe = build_pipeline(
        model,
        None if rgb_model == "none" else rgb_model,
        backend,
        "offline",
        "drop",
        threads,
        seg_flip=seg_flip,
        seg_scales=scales,
        seg_guided=seg_guided,
    )
    min_valid = pipe.config.min_valid_depth
    console = Console(stderr=True)
    records, failed, names = [], [], set()
    with atomic_dir(out_path) as staging:
        for sub in ("labels", "color") + (("overlay",) if overlay else ()) + (("probs",) if probs else ()):
            (staging / sub).mkdir()
        with Progress(
            TextColumn("segment"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("segment", total=total)
            for name, frame in items:
                base, k = name, 2
                while name in names:
                    name, k = f"{base}_{k}", k + 1
                names.add(name)
                progress.advance(task)
                if isinstance(frame, Exception):
                    failed.append({"name": name, "reason": str(frame)})
                    continue
                d = frame.depth_m
                depth_ok = d is not None and np.count_nonzero(d) >= min_valid * d.size
                if pipe.segmenter is not None and (depth_ok or not pipe.segmenter.uses_depth):
                    seg, used = pipe.segmenter, "rgbd" if pipe.segmenter.uses_depth else "rgb"
                elif pipe.rgb_segmenter is not None:
                    seg, used = pipe.rgb_segmenter, "rgb"
                else:
                    failed.append({"name": name, "reason": "no usable depth and --rgb-model none"})
                    continue
                try:
                    labels, p = segment_frame(seg, frame, seg_flip, scales, seg_guided or None)
                except Real3DError as e:
                    failed.append({"name": name, "reason": str(e)})
                    continue
                write_item(staging, name, frame, labels, p, overlay, probs)
                records.append(image_record(name, frame, labels, p, used))
        if not records:
            reasons = "; ".join(f"{f['name']}: {f['reason']}" for f in failed[:3])
            raise InputError(f"segment: no image of {input} could be segmented ({reasons or 'it holds none'})")
        summary = {
            "schema": SUMMARY_SCHEMA,
            "version": SUMMARY_VERSION,
            "input": str(input),
            "depth": None if depth is None else str(depth),
            "kind": kind,
            "models": {"rgbd": model, "rgb": None if rgb_model == "none" else rgb_model, "backend": backend},
            "test_time": {"flip": seg_flip, "scales": list(scales), "guided": seg_guided},
            "label_set": {"name": NYU13.name, "names": list(NYU13.names), "colors": NYU13.colors.tolist()},
            "files": {
                "labels": "labels/NAME.png (uint8 ids, 0 = void)",
                "color": "color/NAME.png",
                **({"overlay": "overlay/NAME.png"} if overlay else {}),
                **({"probs": "probs/NAME.npz (probs (13, H, W) float16, classes 1..13)"} if probs else {}),
            },
            "counts": {"segmented": len(records), "failed": len(failed)},
            "images": records,
            "failed": failed,
        }
        atomic_write_text(staging / "summary.json", json.dumps(summary, indent=1) + "\n")
    for f in failed[:5]:
        console.print(f"failed {f['name']}: {f['reason']}", style="red", markup=False, highlight=False)
    typer.echo(f"segmented {len(records)} image(s), {len(failed)} failed: {out / 'summary.json'}")
