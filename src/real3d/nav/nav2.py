"""nav2 map files: ``map.yaml`` + ``map.pgm`` of a costmap, as nav2's map_server loads them.

The image is an 8-bit binary PGM (P5) whose row 0 is the top of the map, the largest y
(``Grid2D`` keeps row 0 at the smallest y: rows are flipped on the way out and back). Pixels
are trinary: 0 (black) occupied, 254 free, 205 unknown. The YAML names the image by a path
relative to itself and gives ``resolution`` (metres per cell), ``origin`` [x, y, yaw] of the
lower-left corner of the lower-left pixel in the map frame (metres, radians; yaw 0: the
image's columns run along +x), ``negate: 0``, ``mode: trinary``, ``occupied_thresh: 0.65``
and ``free_thresh: 0.196``.

map_server reads a pixel p as occupancy (255 - p) / 255: occupied above occupied_thresh,
free below free_thresh, unknown between. The unknown grey 205 reads 50/255 = 0.1961, so
free_thresh must stay at or below 0.196 for it to come back unknown: 0.25, the default of
nav2's map saver before it fixed the thresholds of trinary maps, turns every unknown cell
into free space. 0.196 is the value map savers write for trinary maps.

Which cells are occupied: ``"obstacles"`` (default) marks the cells the map measured an
obstacle in (``Grid2D.occupied``) and leaves the inflation to nav2's own costmap, whose
robot footprint it knows; every other cell seen free, inflated or not, is free.
``"lethal"`` marks every cell the costmap forbids (obstacles grown by the robot radius,
unknown holes), for a planner that takes the map as it is. Unknown cells
(``Grid2D.unknown``) are unknown in both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from real3d.core.errors import FormatError, InputError, describe_array
from real3d.core.files import atomic_write_files

#: pixel values of a trinary map
NAV2_OCCUPIED = 0
NAV2_FREE = 254
NAV2_UNKNOWN = 205
#: the thresholds written into map.yaml (see the module docstring)
OCCUPIED_THRESH = 0.65
FREE_THRESH = 0.196
#: which cells ``nav2_image`` marks occupied
OCCUPIED_MODES = ("obstacles", "lethal")
#: nav_msgs/OccupancyGrid values ``Nav2Map.occupancy`` returns
OCC_OCCUPIED, OCC_FREE, OCC_UNKNOWN = 100, 0, -1

_IMAGE_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.pgm$")


@dataclass(frozen=True)
class Nav2Map:
    """A nav2 map as ``read_nav2_map`` reads it.

    Attributes:
        image: (H, W) uint8 pixels, row 0 = top = largest y.
        resolution_m: cell edge, metres.
        origin: (x, y, yaw) of the lower-left corner of the lower-left pixel, map frame,
            metres and radians.
        negate: 0 or 1 (1: white is occupied).
        occupied_thresh, free_thresh: occupancy thresholds in [0, 1].
        mode: "trinary", "scale" or "raw".
        image_path: where the image was read from.
    """

    image: np.ndarray
    resolution_m: float
    origin: tuple[float, float, float]
    negate: int
    occupied_thresh: float
    free_thresh: float
    mode: str
    image_path: Path

    def occupancy(self) -> np.ndarray:
        """(H, W) int8 nav_msgs/OccupancyGrid values as map_server loads a trinary map:
        100 occupied, 0 free, -1 unknown; row 0 = smallest y (the ``Grid2D`` layout).

        Raises:
            FormatError: the map's mode is not trinary.
        """
        if self.mode != "trinary":
            raise FormatError(f"Nav2Map.occupancy: expected mode trinary, got {self.mode!r}")
        shade = self.image.astype(np.float64) / 255.0
        occ = shade if self.negate else 1.0 - shade
        out = np.full(self.image.shape, OCC_UNKNOWN, np.int8)
        out[occ > self.occupied_thresh] = OCC_OCCUPIED
        out[occ < self.free_thresh] = OCC_FREE
        return out[::-1].copy()


# ---------------------------------------------------------------------------- writing
def nav2_image(costmap, occupied: str = "obstacles") -> np.ndarray:
    """(H, W) uint8 trinary pixels of ``costmap`` (a ``real3d.nav.Costmap``), row 0 = top
    = largest y; ``occupied`` as in the module docstring.

    Raises:
        InputError: ``costmap`` is not a costmap, or ``occupied`` is not one of ``OCCUPIED_MODES``.
    """
    grid = getattr(costmap, "grid", None)
    cost = getattr(costmap, "cost", None)
    if grid is None or cost is None or not hasattr(grid, "occupied"):
        raise InputError(f"nav2_image: expected a real3d.nav.Costmap, got {type(costmap).__name__}")
    if occupied not in OCCUPIED_MODES:
        raise InputError(f"nav2_image: occupied must be one of {', '.join(OCCUPIED_MODES)}, got {occupied!r}")
    cost = np.asarray(cost)
    if cost.shape != grid.shape:
        raise InputError(f"nav2_image: expected the cost {grid.shape} like its grid, got {describe_array(cost)}")
    unknown = grid.unknown
    img = np.full(grid.shape, NAV2_FREE, np.uint8)
    if occupied == "obstacles":
        occ = grid.occupied
    else:
        occ = ~np.isfinite(cost) & ~unknown
    img[unknown] = NAV2_UNKNOWN
    img[occ] = NAV2_OCCUPIED
    return img[::-1].copy()


def write_nav2_map(
    costmap, yaml_path, occupied: str = "obstacles", image_name: str | None = None, comments=()
) -> tuple[Path, Path]:
    """Write ``costmap`` as nav2 map files: ``yaml_path`` and its image beside it.

    Args:
        costmap: a ``real3d.nav.Costmap`` (its grid's cells, origin and resolution).
        yaml_path: the YAML file to write (e.g. ``out/map.yaml``).
        occupied: ``"obstacles"`` or ``"lethal"`` (module docstring).
        image_name: the image's file name, in the YAML's folder; default the YAML's
            name with ``.pgm``.
        comments: lines written as ``#`` comments at the top of the YAML (the frame, ...).

    Returns:
        (yaml path, image path).

    Raises:
        InputError: see ``nav2_image`` and ``write_nav2_image``.
    """
    g = costmap.grid if hasattr(costmap, "grid") else None
    img = nav2_image(costmap, occupied)
    return write_nav2_image(img, g.resolution_m, g.origin_xy, yaml_path, image_name, comments)


def write_nav2_image(
    image, resolution_m: float, origin_xy, yaml_path, image_name: str | None = None, comments=()
) -> tuple[Path, Path]:
    """Write trinary pixels as nav2 map files (``write_nav2_map`` without a costmap).

    Args:
        image: (H, W) uint8 of 0 / 205 / 254, row 0 = top = largest y.
        resolution_m: cell edge, metres (> 0).
        origin_xy: (x, y) of the lower-left corner of the lower-left pixel, map frame, metres.
        yaml_path, image_name, comments: as in ``write_nav2_map``.

    Raises:
        InputError: a bad image, resolution, origin, image name or comment (a line break).
    """
    img = np.asarray(image)
    if img.ndim != 2 or img.dtype != np.uint8 or img.size == 0:
        raise InputError(f"write_nav2_image: expected a non-empty (H, W) uint8 image, got {describe_array(img)}")
    bad = ~np.isin(img, (NAV2_OCCUPIED, NAV2_UNKNOWN, NAV2_FREE))
    if bad.any():
        raise InputError(
            f"write_nav2_image: expected pixels 0 (occupied), 205 (unknown) or 254 (free), got "
            f"{int(img[bad][0])} in {int(bad.sum())} pixel(s)"
        )
    if not (isinstance(resolution_m, (int, float, np.floating)) and math.isfinite(resolution_m) and resolution_m > 0):
        raise InputError(f"write_nav2_image: expected resolution_m > 0 metres, got {resolution_m!r}")
    origin = np.asarray(origin_xy, np.float64)
    if origin.shape != (2,) or not np.isfinite(origin).all():
        raise InputError(f"write_nav2_image: expected origin_xy (2,) finite metres, got {describe_array(origin)}")
    yaml_path = Path(yaml_path)
    if yaml_path.suffix not in (".yaml", ".yml"):
        raise InputError(f"write_nav2_image: expected a .yaml path for the map file, got {yaml_path.name!r}")
    if image_name is None:
        image_name = yaml_path.with_suffix(".pgm").name
    if not _IMAGE_NAME.match(image_name):
        raise InputError(f"write_nav2_image: expected an image file name like map.pgm, got {image_name!r}")
    lines = [str(c) for c in comments]
    if any("\n" in c or "\r" in c for c in lines):
        raise InputError("write_nav2_image: expected comments without line breaks")
    h, w = img.shape
    pgm = f"P5\n# CREATOR: real3d {float(resolution_m):.3f} m/pix\n{w} {h}\n255\n".encode("ascii") + img.tobytes()
    text = [f"# {c}" for c in lines] + [
        f"image: {image_name}",
        "mode: trinary",
        f"resolution: {float(resolution_m)!r}",
        f"origin: [{float(origin[0])!r}, {float(origin[1])!r}, 0.0]",
        "negate: 0",
        f"occupied_thresh: {OCCUPIED_THRESH}",
        f"free_thresh: {FREE_THRESH}",
    ]
    # both written in full before either is renamed into place: never a YAML without its image
    image_path, yaml_path = atomic_write_files({yaml_path.parent / image_name: pgm, yaml_path: "\n".join(text) + "\n"})
    return yaml_path, image_path


# ---------------------------------------------------------------------------- reading
def _yaml_value(text: str, where: str):
    v = text.strip()
    if v.startswith("[") and v.endswith("]"):
        items = [s.strip() for s in v[1:-1].split(",") if s.strip()]
        return [_yaml_value(s, where) for s in items]
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def _read_yaml(path: Path) -> dict:
    """The flat ``key: value`` YAML of a nav2 map (comments, numbers, strings, flow lists)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"read_nav2_map: cannot read {path}: {e}") from e
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or line[0].isspace():
            raise FormatError(f"read_nav2_map: {path} line {n}: expected 'key: value', got {line!r}")
        out[key.strip()] = _yaml_value(value, f"{path} line {n}")
    return out


def read_pgm(path) -> np.ndarray:
    """(H, W) uint8 pixels of an 8-bit binary PGM (P5; ``#`` comments allowed in the header).

    Raises:
        FormatError: a missing file, another format, a maximum other than 255, a short file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FormatError(f"read_pgm: cannot read {path}: {e}") from e
    fields, pos = [], 0
    while len(fields) < 4:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace() and data[pos : pos + 1] != b"#":
            pos += 1
        if start == pos:
            raise FormatError(f"read_pgm: {path}: the header ends early")
        fields.append(data[start:pos])
    pos += 1  # the single whitespace byte after the maximum
    if fields[0] != b"P5":
        raise FormatError(f"read_pgm: {path}: expected a binary PGM (P5), got {fields[0][:8]!r}")
    try:
        w, h, maxval = (int(f) for f in fields[1:])
    except ValueError as e:
        raise FormatError(f"read_pgm: {path}: expected width, height and maximum, got {fields[1:]}") from e
    if maxval != 255 or w <= 0 or h <= 0:
        raise FormatError(f"read_pgm: {path}: expected 8-bit pixels (maximum 255) and a size, got {w}x{h} max {maxval}")
    if len(data) - pos < w * h:
        raise FormatError(f"read_pgm: {path}: expected {w * h} pixel bytes, got {len(data) - pos}")
    return np.frombuffer(data, np.uint8, w * h, pos).reshape(h, w).copy()


def read_nav2_map(yaml_path) -> Nav2Map:
    """Read nav2 map files (``map.yaml`` and the image it names, relative to its folder).

    Raises:
        FormatError: a missing or malformed file, a missing key, an image other than PGM.
    """
    yaml_path = Path(yaml_path)
    d = _read_yaml(yaml_path)
    missing = [k for k in ("image", "resolution", "origin") if k not in d]
    if missing:
        raise FormatError(f"read_nav2_map: {yaml_path}: expected keys image, resolution, origin; missing {missing}")
    origin = d["origin"]
    if not (isinstance(origin, list) and len(origin) == 3 and all(isinstance(v, (int, float)) for v in origin)):
        raise FormatError(f"read_nav2_map: {yaml_path}: expected origin [x, y, yaw], got {origin!r}")
    res = d["resolution"]
    if not isinstance(res, (int, float)) or not res > 0:
        raise FormatError(f"read_nav2_map: {yaml_path}: expected resolution > 0 metres, got {res!r}")
    image_path = Path(str(d["image"]))
    if not image_path.is_absolute():
        image_path = yaml_path.parent / image_path
    if image_path.suffix.lower() != ".pgm":
        raise FormatError(f"read_nav2_map: {yaml_path}: expected a .pgm image, got {image_path.name}")
    try:
        thresholds = float(d.get("occupied_thresh", OCCUPIED_THRESH)), float(d.get("free_thresh", FREE_THRESH))
        negate = int(d.get("negate", 0))
    except (TypeError, ValueError) as e:
        raise FormatError(f"read_nav2_map: {yaml_path}: malformed thresholds or negate ({e})") from e
    return Nav2Map(
        image=read_pgm(image_path),
        resolution_m=float(res),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        negate=negate,
        occupied_thresh=thresholds[0],
        free_thresh=thresholds[1],
        mode=str(d.get("mode", "trinary")),
        image_path=image_path,
    )
