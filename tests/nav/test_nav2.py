import numpy as np
import pytest

from real3d.core.errors import FormatError, InputError
from real3d.mapping.grid2d import Grid2D
from real3d.nav.costmap import CostmapConfig, costmap_from_grid
from real3d.nav.nav2 import (
    FREE_THRESH,
    NAV2_FREE,
    NAV2_OCCUPIED,
    NAV2_UNKNOWN,
    OCC_FREE,
    OCC_OCCUPIED,
    OCC_UNKNOWN,
    nav2_image,
    read_nav2_map,
    read_pgm,
    write_nav2_image,
    write_nav2_map,
)


def _costmap():
    """6 rows x 8 columns of 0.1 m from (-1.0, 2.0): an obstacle cell at row 1, column 2
    (y in [2.1, 2.2), x in [-0.8, -0.7)), the top row unknown, the rest free."""
    occ = np.zeros((6, 8), bool)
    occ[1, 2] = True
    free = ~occ
    free[5, :] = False
    grid = Grid2D(occ, free, (-1.0, 2.0), 0.1, 0.05, 1.5)
    cfg = CostmapConfig(resolution_m=0.1, robot_radius_m=0.15, safety_margin_m=0.0, inflation_m=0.3)
    return costmap_from_grid(grid, cfg)


def test_pixels_match_the_cells_with_rows_flipped():
    cm = _costmap()
    img = nav2_image(cm)
    assert img.shape == (6, 8) and img.dtype == np.uint8
    # Grid row 1 (second from the bottom) is image row 4 (second from the top's far end).
    assert img[4, 2] == NAV2_OCCUPIED
    assert (img[0] == NAV2_UNKNOWN).all()  # grid row 5 = top row of the image
    assert (img == NAV2_OCCUPIED).sum() == 1 and (img == NAV2_UNKNOWN).sum() == 8
    # cells next to the obstacle are lethal or inflated in the costmap, yet free in the map
    assert not np.isfinite(cm.cost[1, 3]) and img[4, 3] == NAV2_FREE
    assert np.isfinite(cm.cost[1, 5]) and cm.cost[1, 5] > 1 and img[4, 5] == NAV2_FREE
    # "lethal": every forbidden seen cell is occupied, unknown stays unknown
    lethal = nav2_image(cm, occupied="lethal")
    seen_lethal = ~np.isfinite(cm.cost) & ~cm.grid.unknown
    assert seen_lethal.sum() > 1 and ((lethal[::-1] == NAV2_OCCUPIED) == seen_lethal).all()
    assert (lethal[0] == NAV2_UNKNOWN).all()


def test_yaml_and_pgm_follow_map_server_conventions(tmp_path):
    cm = _costmap()
    yml, pgm = write_nav2_map(cm, tmp_path / "map.yaml", comments=["frame_id: map"])
    assert pgm == tmp_path / "map.pgm" and pgm.is_file()
    text = yml.read_text()
    assert text.startswith("# frame_id: map\n")
    assert "image: map.pgm\n" in text and "mode: trinary\n" in text and "negate: 0\n" in text
    assert "resolution: 0.1\n" in text and "origin: [-1.0, 2.0, 0.0]\n" in text
    assert "occupied_thresh: 0.65\n" in text and "free_thresh: 0.196\n" in text
    raw = pgm.read_bytes()
    assert raw.startswith(b"P5\n") and raw.endswith(nav2_image(cm).tobytes()) and b"\n8 6\n255\n" in raw
    assert len(raw.split(b"\n255\n", 1)[1]) == 48


def test_round_trip_gives_the_costmap_cells_back(tmp_path):
    cm = _costmap()
    write_nav2_map(cm, tmp_path / "m.yaml")
    m = read_nav2_map(tmp_path / "m.yaml")
    assert m.resolution_m == 0.1 and m.origin == (-1.0, 2.0, 0.0) and m.negate == 0 and m.mode == "trinary"
    assert m.image_path == tmp_path / "m.pgm"
    occ = m.occupancy()  # OccupancyGrid layout: row 0 = smallest y, like Grid2D
    g = cm.grid
    assert (occ[g.occupied] == OCC_OCCUPIED).all()
    assert (occ[g.free] == OCC_FREE).all()
    assert (occ[g.unknown] == OCC_UNKNOWN).all()
    # The cell a world point falls in is the same cell in the map read back
    x, y = -0.75, 2.15
    col = int(np.floor((x - m.origin[0]) / m.resolution_m))
    row = int(np.floor((y - m.origin[1]) / m.resolution_m))
    assert (row, col) == (1, 2) and occ[row, col] == OCC_OCCUPIED
    assert m.image[m.image.shape[0] - 1 - row, col] == NAV2_OCCUPIED


def test_unknown_stays_unknown_only_below_0_196():
    # map_server's reading of grey 205: occupancy 50/255 = 0.1961
    assert (255 - NAV2_UNKNOWN) / 255 > FREE_THRESH
    assert (255 - NAV2_UNKNOWN) / 255 < 0.25  # the older default would read it as free


def test_an_empty_map_is_one_unknown_cell(tmp_path):
    write_nav2_image(np.full((1, 1), NAV2_UNKNOWN, np.uint8), 0.05, (0.0, 0.0), tmp_path / "map.yaml")
    assert read_nav2_map(tmp_path / "map.yaml").occupancy().tolist() == [[OCC_UNKNOWN]]


def test_pgm_comments_in_the_header_are_read(tmp_path):
    p = tmp_path / "a.pgm"
    p.write_bytes(b"P5\n# one\n# two\n3 2\n# three\n255\n" + bytes(range(6)))
    assert read_pgm(p).tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    "call",
    [
        lambda d: nav2_image(object()),
        lambda d: nav2_image(_costmap(), occupied="inflated"),
        lambda d: write_nav2_image(np.zeros((2, 2), np.float32), 0.1, (0, 0), d / "m.yaml"),
        lambda d: write_nav2_image(np.full((2, 2), 100, np.uint8), 0.1, (0, 0), d / "m.yaml"),
        lambda d: write_nav2_image(np.zeros((2, 2), np.uint8), 0.0, (0, 0), d / "m.yaml"),
        lambda d: write_nav2_image(np.zeros((2, 2), np.uint8), 0.1, (np.nan, 0), d / "m.yaml"),
        lambda d: write_nav2_image(np.zeros((2, 2), np.uint8), 0.1, (0, 0), d / "m.yaml", image_name="../x.pgm"),
        lambda d: write_nav2_image(np.zeros((2, 2), np.uint8), 0.1, (0, 0), d / "m.pgm"),
        lambda d: write_nav2_image(np.zeros((2, 2), np.uint8), 0.1, (0, 0), d / "m.yaml", comments=["a\nb"]),
    ],
)
def test_bad_input_is_refused_and_nothing_written(tmp_path, call):
    with pytest.raises(InputError):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "yaml,pgm",
    [
        ("image: m.pgm\nresolution: 0.1\n", None),  # no origin
        ("image: m.pgm\nresolution: 0.1\norigin: [0, 0]\n", None),
        ("image: m.pgm\nresolution: -1\norigin: [0, 0, 0]\n", None),
        ("image: m.png\nresolution: 0.1\norigin: [0, 0, 0]\n", None),
        ("image: m.pgm\nresolution: 0.1\norigin: [0, 0, 0]\n", None),  # no image file
        ("image: m.pgm\nresolution: 0.1\norigin: [0, 0, 0]\n", b"P2\n2 2\n255\n0 0 0 0\n"),
        ("image: m.pgm\nresolution: 0.1\norigin: [0, 0, 0]\n", b"P5\n2 2\n65535\n" + bytes(8)),
        ("image: m.pgm\nresolution: 0.1\norigin: [0, 0, 0]\n", b"P5\n4 4\n255\n" + bytes(3)),
        ("just words\n", None),
    ],
)
def test_bad_files_raise_format_error(tmp_path, yaml, pgm):
    (tmp_path / "m.yaml").write_text(yaml)
    if pgm is not None:
        (tmp_path / "m.pgm").write_bytes(pgm)
    with pytest.raises(FormatError):
        read_nav2_map(tmp_path / "m.yaml")
