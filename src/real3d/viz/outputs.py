"""The output set of a run, written whole or not at all, and the writers it uses.

``check_output_folder`` refuses an ``--out`` that cannot take the set before any work
starts; ``OutputSet`` stages every file in a temporary sibling folder
(``.NAME.tmp-PID-XXXX``) and swaps it in by renames at the end (``real3d.core.files``), so
a failed or killed run leaves the earlier set complete and no temporaries. The files of
the set are listed in ``real3d.viz.report`` and described, with their frames, units and
JSON Schemas (``SCHEMA_DIR``), in docs/outputs.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from real3d.core.errors import InputError, OutputError
from real3d.core.files import (
    atomic_write_bytes,
    atomic_write_text,
    make_staging_dir,
    swap_in_dir,
)


OUTPUT_FILES = (
    "report.html",
    "report.md",
    "semantic_map.ply",
    "scene_graph.json",
    "costmap.png",
    "path.json",
    "metrics.json",
    "map.yaml",
    "map.pgm",
)
#: the JSON Schemas (draft 2020-12) of scene_graph.json, path.json and metrics.json,
#: shipped in the package: ``SCHEMA_DIR / "path.schema.json"``
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
#: metrics.json's schema name and version
METRICS_SCHEMA = "real3d.metrics"
METRICS_SCHEMA_VERSION = 1
#: what else an output folder of an earlier run may hold: pictures, the optional
#: recording, and per-file temporaries of versions that wrote the files in place
_OUTPUT_EXTRAS = ("report_files", "recording.rrd", "semantic_mesh.ply")
_OUTPUT_TEMPORARY = re.compile(r"^\.[^/]+\.part(\.[A-Za-z0-9]+)?$|^\.recording\.rrd\.tmp$")
#: free space the disk of the output folder must have before a run starts
MIN_FREE_BYTES = 16 * 2**20


# ---------------------------------------------------------------------------- output set
def check_output_folder(out) -> Path:
    """Check that ``out`` can take a run's output set, before any work starts.

    ``out`` may be missing (it is created, parents included) or a folder an earlier run
    wrote (it is replaced as a whole at the end). Returns the path with symbolic links
    resolved (the set replaces the folder a link points to, not the link).

    Raises:
        InputError: ``out`` or a folder above it is a file; ``out`` is the current folder
            or holds it; the folder is not writable (``out``, or the nearest existing folder
            above it); ``out`` holds files that are not a run's outputs (they would be
            deleted with the earlier set); less than ``MIN_FREE_BYTES`` free on its disk.
    """
    given = Path(out)
    path = Path(os.path.realpath(given))
    if path.exists() and not path.is_dir():
        raise InputError(f"output folder {given}: expected a folder (or a new name), got a file")
    cwd = Path(os.path.realpath(os.getcwd()))
    if path == cwd or path in cwd.parents or path.parent == path:
        raise InputError(
            f"output folder {given}: expected a folder of its own, got the current folder or one "
            "above it (the output set replaces the folder as a whole); name a subfolder"
        )
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"output folder {given}: {existing} is a file, not a folder")
    need = [existing] + ([path] if path.exists() else [])
    for folder in need:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(
                f"output folder {given}: cannot write in {folder} (permission denied or a read-only file system)"
            )
    if path.exists():
        foreign = sorted(
            e.name
            for e in path.iterdir()
            if e.name not in OUTPUT_FILES + _OUTPUT_EXTRAS and not _OUTPUT_TEMPORARY.match(e.name)
        )
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise InputError(
                f"output folder {given}: expected a new folder or one an earlier run wrote, got a "
                f"folder that also holds {shown} (the output set replaces the folder as a whole); "
                "choose another folder"
            )
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:
        raise InputError(
            f"output folder {given}: only {free / 2**20:.1f} MiB free on its disk; "
            f"a run needs at least {MIN_FREE_BYTES / 2**20:.0f} MiB"
        )
    return path


class OutputSet:
    """The folder a run's output set is written into, swapped in whole at the end.

    Example::

        with OutputSet(out) as outs:        # checks out (InputError), makes the staging folder
            ...                              # write every file into outs.staging
            outs.commit()                    # staging replaces out; without it out is untouched

    Leaving the block without ``commit`` (an exception, an abort) deletes the staging
    folder: ``out`` keeps the earlier set, and no temporary is left.

    Attributes:
        given: the output folder as given.
        path: the output folder with symbolic links resolved.
        staging: the temporary sibling folder being filled (None outside the block).
        committed: whether ``commit`` swapped the set in.
    """

    def __init__(self, out) -> None:
        self.given = Path(out)
        self.path = check_output_folder(out)
        self.staging: Path | None = None
        self.committed = False

    def __enter__(self) -> OutputSet:
        try:
            self.staging = make_staging_dir(self.path)
        except OSError as e:
            raise OutputError(
                f"output folder {self.given}: cannot create a folder beside it ({e.strerror or e})"
            ) from e
        return self

    def commit(self) -> None:
        """Replace the output folder by the staging folder (two renames)."""
        if self.staging is None or self.committed:
            raise InputError("OutputSet.commit: expected an open, uncommitted output set")
        try:
            swap_in_dir(self.staging, self.path)
        except OSError as e:
            raise OutputError(
                f"output folder {self.given}: could not move the new outputs into "
                f"place ({e.strerror or e}); the earlier outputs are kept"
            ) from e
        self.committed = True

    def final(self, p: Path) -> Path:
        """Where ``p`` (a path in the staging folder) lies once committed."""
        return self.given / Path(p).relative_to(self.staging)

    def __exit__(self, *exc) -> None:
        if self.staging is not None and not self.committed and os.path.lexists(self.staging):
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None


# ---------------------------------------------------------------------------- files
def atomic_save_png(image, path) -> Path:
    """Save a PIL image (or (H, W, 3) uint8 array) as PNG atomically."""
    import io

    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o):
    """Replace NaN/inf floats by None so the JSON is standard."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    return o


def frame_comments(header: dict) -> list[str]:
    """One-line, ASCII ``key value`` comments of a frame header
    (``real3d.scene.graph.frame_header``) for files without JSON: the PLY header, map.yaml.
    ``map_T_input`` is written as its 16 numbers row by row, or ``unknown``."""
    t = header.get("map_T_input")
    lines = [
        f"frame_id {header['frame_id']}",
        f"frame {header['frame']}",
        "map_T_input " + ("unknown" if t is None else " ".join(repr(float(v)) for row in t for v in row)),
        "convention p_map = map_T_input @ p_input (input: the frame of the input poses)",
        f"stamp_s {'unknown' if header.get('stamp_s') is None else repr(float(header['stamp_s']))}",
        f"units length {header['units']['length']}, angle {header['units']['angle']}, time {header['units']['time']}",
        f"yaw {header['yaw']}",
    ]
    if header.get("alignment"):
        lines.append(f"alignment {header['alignment']}")
    return [" ".join(c.split()).encode("ascii", "replace").decode("ascii") for c in lines]


def write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(_clean(obj), indent=1, default=_json_default) + "\n")
