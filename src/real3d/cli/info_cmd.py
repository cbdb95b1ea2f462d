"""``real3d info PATH``: what a recording or dataset holds, as a table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer


def _parse_intrinsics(text: str | None):
    from real3d.core import ConfigError, Intrinsics

    if text is None:
        return None
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 6:
        raise ConfigError(f"--intrinsics: expected 'fx,fy,cx,cy,width,height', got {text!r}")
    return Intrinsics(*vals[:4], int(vals[4]), int(vals[5]))


#: ``open_sequence`` keyword of each ROS bag option of the command line
# The input options `real3d info` and `real3d run` share (typer reads each as the default of
# its parameter; ``open_input`` / ``input_options`` take their values).
FORMAT_OPTION = typer.Option(None, "--format", help="Skip detection: format name.")
INTRINSICS_OPTION = typer.Option(None, "--intrinsics", help="fx,fy,cx,cy,width,height for sources without calibration.")
DEPTH_ENCODING_OPTION = typer.Option(None, "--depth-encoding", help="Folder sources: mm | tum | sun | nyu_disparity.")
DEPTH_SCALE_OPTION = typer.Option(
    None,
    "--depth-scale",
    help="Metres per stored depth unit (0.001 = millimetres, 0.0002 = TUM), replacing what the reader assumes.",
)
RGB_TOPIC_OPTION = typer.Option(None, "--rgb-topic", help="ROS bags: colour image topic.")
DEPTH_TOPIC_OPTION = typer.Option(None, "--depth-topic", help="ROS bags: depth image topic.")
INFO_TOPIC_OPTION = typer.Option(None, "--info-topic", help="ROS bags: CameraInfo topic of the colour camera.")
DEPTH_INFO_TOPIC_OPTION = typer.Option(
    None, "--depth-info-topic", help="ROS bags: CameraInfo of a separate depth camera (to register its depth)."
)
DEPTH_ALIGNED_OPTION = typer.Option(
    False, "--depth-aligned", help="ROS bags: the depth is registered to colour; do not register it."
)
POSE_TOPIC_OPTION = typer.Option(
    None, "--pose-topic", help="ROS bags: the tf or Odometry topic poses come from (default: all)."
)
WORLD_FRAME_OPTION = typer.Option(
    None, "--world-frame", help="ROS bags: tf frame poses are expressed in (default: the tf tree's root)."
)

BAG_FLAGS = {
    "rgb_topic": "--rgb-topic",
    "depth_topic": "--depth-topic",
    "camera_info_topic": "--info-topic",
    "depth_camera_info_topic": "--depth-info-topic",
    "pose_topic": "--pose-topic",
    "world_frame": "--world-frame",
}


def input_options(
    path: Path,
    format: str | None,
    *,
    intrinsics: str | None = None,
    depth_encoding: str | None = None,
    depth_scale: float | None = None,
    depth_aligned: bool = False,
    **bag: str | None,
) -> tuple[str, dict]:
    """(format, ``open_sequence`` keyword options) from the input options the ``run``,
    ``info``, ``segment`` and ``batch`` commands share.

    Args:
        format: ``--format``, or None to detect it from ``path``.
        intrinsics: ``--intrinsics`` text (fx,fy,cx,cy,width,height, pixels).
        depth_encoding: ``--depth-encoding`` (folder formats: mm | tum | sun | nyu_disparity).
        depth_scale: ``--depth-scale``, metres per stored depth unit.
        depth_aligned: ``--depth-aligned``: a bag's depth is registered to colour whatever
            its frame_id says (no registration).
        **bag: the keys of ``BAG_FLAGS`` (topics, tf frame), None when not given.

    Raises:
        ConfigError: a bag option for an input that is no ROS bag, ``--depth-encoding`` for
            a format without that option, a depth scale out of range.
        FormatError: ``path`` missing or of no known format (when ``format`` is None).
    """
    from real3d.core import ConfigError
    from real3d.io import detect_format

    fmt = format or detect_format(path)
    opts: dict = {}
    intr = _parse_intrinsics(intrinsics)
    if intr is not None:
        opts["intrinsics"] = intr
    if depth_encoding is not None:
        if fmt not in ("folder", "pairs"):
            raise ConfigError(
                f"--depth-encoding applies to plain folders (formats folder, pairs); {path} is read as {fmt!r}"
                + ("; use --depth-scale to set the depth unit" if fmt != "folder" else "")
            )
        opts["depth_encoding"] = depth_encoding
    if depth_scale is not None:
        opts["depth_scale_m"] = check_depth_scale(depth_scale)
    unknown = sorted(set(bag) - set(BAG_FLAGS))
    if unknown:
        raise ConfigError(f"input_options: unknown option(s) {', '.join(unknown)}; valid: {', '.join(BAG_FLAGS)}")
    given = {k: v for k, v in bag.items() if v is not None}
    if depth_aligned:
        given["depth_aligned"] = True
    if given and fmt != "rosbag":
        flags = ", ".join(BAG_FLAGS.get(k, "--depth-aligned") for k in given)
        raise ConfigError(f"{flags}: for ROS bag inputs only; {path} is read as {fmt!r}")
    opts.update(given)
    return fmt, opts


def check_depth_scale(value: float) -> float:
    """``--depth-scale``: metres per stored depth unit in (0, ``MAX_DEPTH_SCALE_M``];
    ConfigError otherwise, with the reciprocal suggested for a value given per metre."""
    from real3d.core import ConfigError
    from real3d.io.base import MAX_DEPTH_SCALE_M

    v = float(value)
    if not (np.isfinite(v) and 0 < v <= MAX_DEPTH_SCALE_M):
        hint = f" (units per metre? pass {1 / v:.6g})" if np.isfinite(v) and v > 1 else ""
        raise ConfigError(
            f"--depth-scale: expected metres per stored depth unit in (0, {MAX_DEPTH_SCALE_M:g}], such as "
            f"0.001 for millimetres or 0.0002 for TUM's 5000 per metre, got {value!r}{hint}"
        )
    return v


#: depth of a room: the median of a frame's valid depth lies in this range (metres) ...
ROOM_MEDIAN_M = (0.25, 6.0)
#: ... and its largest value below this (metres); otherwise the scale is probably wrong
ROOM_MAX_M = 25.0
#: median depth of a typical indoor frame, metres (to rank suggested scales)
TYPICAL_MEDIAN_M = 2.0
#: depth units a recording commonly uses, metres per stored value
COMMON_DEPTH_SCALES_M = (1e-3, 2e-4, 1e-4, 1.0)


def depth_scale_warning(depth_m: np.ndarray, unit_m: float | None) -> str | None:
    """Why ``depth_m`` (valid pixels > 0, metres) looks unlike a room, with the
    ``--depth-scale`` values that would make it look like one; None when it looks right.

    Args:
        depth_m: depth values of one or more frames, metres, 0 = invalid (any shape).
        unit_m: metres per stored unit the depth was decoded with (for the suggestion),
            or None when not known.
    """
    v = np.asarray(depth_m, np.float64).ravel()
    v = v[v > 0]
    if v.size == 0:
        return None
    med, top = float(np.median(v)), float(v.max())
    if ROOM_MEDIAN_M[0] <= med <= ROOM_MEDIAN_M[1] and top <= ROOM_MAX_M:
        return None
    msg = (
        f"depth median {med:.3g} m, max {top:.3g} m is unlike a room (median {ROOM_MEDIAN_M[0]:g}-"
        f"{ROOM_MEDIAN_M[1]:g} m, max <= {ROOM_MAX_M:g} m): is the depth scale wrong?"
    )
    if unit_m is not None:
        fits = [
            s
            for s in COMMON_DEPTH_SCALES_M
            if s != unit_m and 0.5 <= med * s / unit_m <= 4.0 and top * s / unit_m <= ROOM_MAX_M
        ]
        msg += f" It was read as {unit_m:g} m per stored unit"
        # the common unit that puts the median nearest a typical room's (2 m, in ratio)
        fits.sort(key=lambda s: abs(np.log(med * s / unit_m / TYPICAL_MEDIAN_M)))
        msg += f"; try --depth-scale {fits[0]:g}" if fits else ""
    return msg


#: bad frames whose reason ``info`` prints below its table
_MAX_REASONS = 5


def _sample_positions(n: int, k: int) -> list[int]:
    if n == 0 or k <= 0:
        return []
    return sorted(set(np.linspace(0, n - 1, min(n, k)).round().astype(int).tolist()))


def info(
    path: Path = typer.Argument(..., help="Recording or dataset: file or folder."),
    frames: int = typer.Option(5, "--frames", "-n", help="Frames decoded (spread evenly) for depth statistics."),
    format: str | None = FORMAT_OPTION,
    intrinsics: str | None = INTRINSICS_OPTION,
    depth_encoding: str | None = DEPTH_ENCODING_OPTION,
    depth_scale: float | None = DEPTH_SCALE_OPTION,
    rgb_topic: str | None = RGB_TOPIC_OPTION,
    depth_topic: str | None = DEPTH_TOPIC_OPTION,
    info_topic: str | None = INFO_TOPIC_OPTION,
    depth_info_topic: str | None = DEPTH_INFO_TOPIC_OPTION,
    depth_aligned: bool = DEPTH_ALIGNED_OPTION,
    pose_topic: str | None = POSE_TOPIC_OPTION,
    world_frame: str | None = WORLD_FRAME_OPTION,
) -> None:
    """Print format, frame count, resolution, intrinsics, depth statistics, pose coverage,
    label set and the frames that cannot be used (with reasons) of PATH; for a ROS bag,
    its topics with their types and message counts."""
    from rich.console import Console
    from rich.table import Table

    from real3d.core import ConfigError, FormatError
    from real3d.io import open_sequence

    fmt, opts = input_options(
        path,
        format,
        intrinsics=intrinsics,
        depth_encoding=depth_encoding,
        depth_scale=depth_scale,
        rgb_topic=rgb_topic,
        depth_topic=depth_topic,
        camera_info_topic=info_topic,
        depth_camera_info_topic=depth_info_topic,
        depth_aligned=depth_aligned,
        pose_topic=pose_topic,
        world_frame=world_frame,
    )
    with open_sequence(path, format=fmt, **opts) as seq:
        meta = seq.info
        n = meta.num_frames
        decoded, errors = [], {}
        problem = None  # an option or a recording that no frame can be read with
        for k in _sample_positions(n, frames):
            try:
                decoded.append(seq[k])
            except FormatError as e:
                errors[k] = str(e)
            except ConfigError as e:
                # e.g. depth that is not registered to colour: shown under the table (with
                # the topics that help to fix it), then the command fails
                problem = str(e)
                break
        poses = seq.source_poses()
        # Frames known to be unusable without decoding (bad pose rows, missing depth files,
        # unreadable pose files seen just now) and the sampled frames that failed to decode.
        bad = {b.index: b.reason for b in seq.known_bad()}
        sampled_bad = {k: r for k, r in errors.items() if k not in bad}
        bad.update(sampled_bad)
        if poses is None:
            poses_seen = [f.world_T_cam for f in decoded]
            pose_note = f"(of {len(decoded)} decoded)"
        else:
            poses_seen, pose_note = poses, ""
        table = Table(title=f"real3d info: {path}", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        table.add_row("format", meta.format)
        table.add_row("frames", f"{n}" + (f" of {meta.num_source_frames}" if meta.num_source_frames != n else ""))
        sizes = sorted({f.size_hw for f in decoded}) or ([meta.size_hw] if meta.size_hw else [])
        table.add_row(
            "resolution",
            ", ".join(f"{w} x {h}" for h, w in sizes) + " (W x H)" + (" (varies)" if len(sizes) > 1 else "")
            if sizes
            else "unknown",
        )
        K = meta.intrinsics or (decoded[0].intrinsics if decoded else None)
        table.add_row(
            "intrinsics",
            "none"
            if K is None
            else f"fx {K.fx:.2f}  fy {K.fy:.2f}  cx {K.cx:.2f}  cy {K.cy:.2f}"
            + ("  (first frame)" if len(sizes) > 1 and meta.intrinsics is None else ""),
        )
        table.add_row("depth encoding", meta.depth_encoding or "unknown")
        depths = [f.depth_m for f in decoded if f.depth_m is not None]
        scale_warning = None
        if depths:
            d = np.concatenate([x.ravel() for x in depths])
            v = d[d > 0]
            share = v.size / max(d.size, 1)
            if v.size:
                p = np.percentile(v, [0, 50, 100])
                table.add_row(
                    "depth (m)",
                    f"valid {100 * share:.1f} %  min {p[0]:.3f}  "
                    f"median {p[1]:.3f}  max {p[2]:.3f}  ({len(depths)} frames)",
                )
                scale_warning = depth_scale_warning(v, seq.options.depth_scale_m or seq.assumed_depth_unit_m())
                table.add_row("depth scale", "plausible for a room" if scale_warning is None else "check: see below")
            else:
                table.add_row("depth (m)", f"no valid depth in {len(depths)} frames")
        else:
            table.add_row("depth (m)", "not decoded")
        have = sum(p is not None for p in poses_seen)
        if poses_seen and (have or meta.pose_source):
            table.add_row(
                "poses", f"{have}/{len(poses_seen)} {pose_note} from {meta.pose_source or 'nowhere'}".replace("  ", " ")
            )
        else:
            table.add_row("poses", meta.pose_source or "none")
        table.add_row("labels", meta.label_set or "none")
        topics = meta.extra.pop("topics", None)
        for key, val in meta.extra.items():
            table.add_row(key, str(val))
        if bad:
            known = len(bad) - len(sampled_bad)
            parts = ([f"{known} known without decoding"] if known else []) + (
                [f"{len(sampled_bad)} of {len(_sample_positions(n, frames))} decoded"] if sampled_bad else []
            )
            table.add_row("bad frames", f"{len(bad)} ({', '.join(parts)}); skipped when read")
        else:
            table.add_row("bad frames", f"none known (of {len(decoded)} decoded)")
        s = seq.stats
        table.add_row(
            "converted",
            f"{s.depth_invalid_encoded} encoded-invalid, "
            f"{s.depth_nonfinite_or_negative} NaN/inf/negative, "
            f"{s.depth_out_of_range} out-of-range pixels -> 0",
        )
        console = Console()
        console.print(table)
        if topics:
            console.print("topics:", soft_wrap=True, markup=False, highlight=False)
            for line in topics:
                console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)
        if scale_warning is not None:
            console.print(f"warning: {scale_warning}", style="yellow", soft_wrap=True, markup=False, highlight=False)
        if problem is not None:
            console.print(f"error: {problem}", style="red", soft_wrap=True, markup=False, highlight=False)
        # Below the table and unwrapped: the messages name paths and must stay whole.
        shown = sorted(bad.items())[:_MAX_REASONS]
        for k, reason in shown:
            console.print(f"bad frame {k}: {reason}", style="red", soft_wrap=True, markup=False, highlight=False)
        if len(bad) > len(shown):
            console.print(
                f"(and {len(bad) - len(shown)} more bad frames)", soft_wrap=True, markup=False, highlight=False
            )
    if problem is not None:
        raise typer.Exit(2)
