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


#: bad frames whose reason ``info`` prints below its table
_MAX_REASONS = 5


def _sample_positions(n: int, k: int) -> list[int]:
    if n == 0 or k <= 0:
        return []
    return sorted(set(np.linspace(0, n - 1, min(n, k)).round().astype(int).tolist()))


def info(
    path: Path = typer.Argument(..., help="Recording or dataset: file or folder."),
    frames: int = typer.Option(5, "--frames", "-n", help="Frames decoded (spread evenly) for depth statistics."),
    format: str | None = typer.Option(None, "--format", help="Skip detection: format name."),
    intrinsics: str | None = typer.Option(
        None, "--intrinsics", help="fx,fy,cx,cy,width,height for sources without calibration."
    ),
) -> None:
    """Print format, frame count, resolution, intrinsics, depth statistics, pose coverage,
    label set and the frames that cannot be used (with reasons) of PATH."""
    from rich.console import Console
    from rich.table import Table

    from real3d.core import FormatError
    from real3d.io import open_sequence

    opts = {}
    intr = _parse_intrinsics(intrinsics)
    if intr is not None:
        opts["intrinsics"] = intr
    with open_sequence(path, format=format, **opts) as seq:
        meta = seq.info
        n = meta.num_frames
        decoded, errors = [], {}
        for k in _sample_positions(n, frames):
            try:
                decoded.append(seq[k])
            except FormatError as e:
                errors[k] = str(e)
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
        # Below the table and unwrapped: the messages name paths and must stay whole.
        shown = sorted(bad.items())[:_MAX_REASONS]
        for k, reason in shown:
            console.print(f"bad frame {k}: {reason}", style="red", soft_wrap=True, markup=False, highlight=False)
        if len(bad) > len(shown):
            console.print(
                f"(and {len(bad) - len(shown)} more bad frames)", soft_wrap=True, markup=False, highlight=False
            )
