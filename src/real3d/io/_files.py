"""Small file helpers shared by the folder-based readers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from real3d.core import FormatError, Intrinsics

COLOR_EXTS = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")
DEPTH_EXTS = (".png", ".pgm", ".tif", ".tiff")


def natural_key(name: str):
    """Sort key that orders ``2.png`` before ``10.png``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_files(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    """Files in ``folder`` with one of ``exts`` (case-insensitive), in natural order."""
    if not folder.is_dir():
        raise FormatError(f"expected a folder {folder}")
    try:
        files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts]
    except OSError as e:
        raise FormatError(f"cannot list {folder}: {e}") from None
    return sorted(files, key=lambda p: natural_key(p.name))


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FormatError(f"{what}: file not found: {path}")
    return path


def text_rows(path: Path, what: str) -> list[list[str]]:
    """Whitespace-split rows of a text file, skipping blank lines and ``#`` comments."""
    require_file(path, what)
    try:
        text = path.read_text()
    except UnicodeDecodeError as e:
        raise FormatError(f"{what}: {path} is not a text file ({e})") from None
    except OSError as e:
        raise FormatError(f"{what}: cannot read {path} ({e})") from None
    return [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def floats(row: list[str], n: int | None, what: str, path: Path) -> np.ndarray:
    """Parse a row of numbers; FormatError names the file when it is not ``n`` numbers."""
    try:
        vals = np.array([float(v) for v in row], dtype=np.float64)
    except (ValueError, OverflowError):
        raise FormatError(f"{what}: {path}: expected numbers, got {' '.join(row)!r}") from None
    if n is not None and len(vals) != n:
        raise FormatError(f"{what}: {path}: expected {n} numbers per row, got {len(vals)}")
    return vals


def read_matrix_txt(path: Path, shape: tuple[int, int], what: str) -> np.ndarray:
    """A whitespace-separated matrix file (rows may be split across lines), float64."""
    rows = text_rows(path, what)
    vals = floats([v for r in rows for v in r], shape[0] * shape[1], what, path)
    return vals.reshape(shape)


def read_json(path: Path, what: str):
    """The parsed JSON of ``path`` (any JSON value; callers check its type)."""
    require_file(path, what)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise FormatError(f"{what}: {path} is not valid JSON ({e})") from None
    except OSError as e:
        raise FormatError(f"{what}: cannot read {path} ({e})") from None


INTRINSICS_FIELDS = ("fx", "fy", "cx", "cy", "width", "height")


def intrinsics_from_dict(d, path: Path) -> Intrinsics:
    """real3d's ``intrinsics.json`` content (an object with numbers fx, fy, cx, cy and
    integers width, height) -> Intrinsics; FormatError naming the fields otherwise."""
    expected = "expected an object with numbers " + ", ".join(INTRINSICS_FIELDS[:4]) + " and integers width, height"
    if not isinstance(d, dict):
        raise FormatError(f"intrinsics.json: {path}: {expected}, got a JSON {type(d).__name__}")
    missing = [k for k in INTRINSICS_FIELDS if k not in d]
    if missing:
        raise FormatError(f"intrinsics.json: {path}: {expected}; missing {', '.join(missing)}")
    vals = [d[k] for k in INTRINSICS_FIELDS]
    got = ", ".join(f"{k}={d[k]!r}" for k in INTRINSICS_FIELDS)
    try:
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in vals) or any(
            not float(v).is_integer() for v in vals[4:]
        ):
            raise FormatError(f"intrinsics.json: {path}: {expected}; got {got}")
        return Intrinsics(*(float(v) for v in vals[:4]), int(vals[4]), int(vals[5]))
    except (ValueError, TypeError, OverflowError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"intrinsics.json: {path}: {e} ({got})") from None


def intrinsics_from_open3d_json(path: Path) -> Intrinsics:
    """Open3D ``PinholeCameraIntrinsic`` JSON: width, height and a column-major
    ``intrinsic_matrix`` of 9 numbers (fx at 0, fy at 4, cx at 6, cy at 7)."""
    d = read_json(path, "camera json")
    try:
        m = np.asarray(d["intrinsic_matrix"], dtype=np.float64).reshape(3, 3).T
        return Intrinsics.from_K(m, int(d["width"]), int(d["height"]))
    except (KeyError, ValueError, TypeError, OverflowError) as e:
        raise FormatError(
            f"camera json: {path}: expected width, height and a 9-number intrinsic_matrix ({e})"
        ) from None


def check_rigid(T: np.ndarray, what: str, tol: float = 1e-3) -> np.ndarray | None:
    """Return T (float64) when it is a finite rigid transform, else None.

    Datasets mark unknown poses with inf/NaN matrices (ScanNet); those become None. The
    tolerance allows the float32 rounding of stored matrices.
    """
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        return None
    R = T[:3, :3]
    if (
        not np.allclose(T[3], [0, 0, 0, 1], atol=tol)
        or not np.allclose(R @ R.T, np.eye(3), atol=tol)
        or np.linalg.det(R) < 0
    ):
        raise FormatError(f"{what}: not a rigid transform: {T.tolist()}")
    # Re-orthonormalise so that Frame's stricter check accepts float32-rounded rotations.
    u, _, vt = np.linalg.svd(R)
    T = T.copy()
    T[:3, :3] = u @ vt
    T[3] = [0, 0, 0, 1]
    return T
