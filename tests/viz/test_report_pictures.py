"""The report's pictures: the top-down map in metres with a legend of every colour, scene-graph
captions that never overlap, latency drawn as measured."""

from itertools import combinations
from types import SimpleNamespace

import numpy as np
import pytest

from real3d.core import NYU13, InputError
from real3d.mapping.grid2d import Grid2D
from real3d.nav import draw
from real3d.nav.costmap import CostmapConfig, costmap_from_grid
from real3d.nav.planner import Path
from real3d.scene.boxes import Box3D
from real3d.scene.nodes import Edge, SceneNode
from real3d.viz.mapview import scene_graph_figure
from real3d.viz.plots import SERIES_COLORS, boxes_overlap, line_chart, place_labels

RES = 0.1


def costmap(origin_xy, occupied_cells=(), unknown_rows=0, inflation_m=0.0, radius_m=0.05):
    """60 x 40 cells of 0.1 m, free but for the given occupied (row, col) cells and the
    lowest ``unknown_rows`` rows (unknown)."""
    occ = np.zeros((40, 60), bool)
    for rc in occupied_cells:
        occ[rc] = True
    free = ~occ
    free[:unknown_rows] = False
    grid = Grid2D(occ, free, origin_xy, RES, 0.1, 1.5)
    return costmap_from_grid(grid, CostmapConfig(robot_radius_m=radius_m, safety_margin_m=0.0, inflation_m=inflation_m))


def colour_at(img, x, y):
    return tuple(int(c) for c in np.asarray(img)[int(round(y)), int(round(x))])


def test_topdown_axes_are_metres_of_the_map_frame():
    # cell (row 25, col 20) covers x in [1.0, 1.1), y in [2.0, 2.1) with the grid's corner at (-1, -0.5)
    cm = costmap((-1.0, -0.5), occupied_cells=[(25, 20)])
    fig = draw.topdown_figure(cm, scale=8)
    a = np.asarray(fig.image).astype(int)
    x0, y0, x1, y1 = fig.panel
    ys, xs = np.nonzero((np.abs(a[y0:y1, x0:x1] - draw.OCCUPIED_RGB).sum(-1) == 0))
    xs, ys = xs + x0, ys + y0
    ticks_x, ticks_y = dict(fig.ticks_x), dict(fig.ticks_y)
    # the occupied cell's left edge sits on the x = 1 m tick, its lower edge on the y = 2 m tick
    assert 1.0 in ticks_x and 2.0 in ticks_y
    assert abs(xs.min() - ticks_x[1.0]) <= 1 and abs(ys.max() + 1 - ticks_y[2.0]) <= 1
    assert abs(fig.px_per_m - 8 / RES) < 1e-9 and abs((xs.max() + 1 - xs.min()) - 0.1 * fig.px_per_m) <= 1
    steps = np.diff([t for t, _ in fig.ticks_x])
    assert np.allclose(steps, steps[0]) and steps[0] in (0.5, 1.0)  # round metre steps
    # the origin of the map frame is marked with a cross, and said in the legend
    assert colour_at(fig.image, *fig.origin_px) == draw.ORIGIN_RGB
    assert any("origin" in e.text for e in fig.legend)
    # the scale bar is as long as it says
    row = a[y0 + 8, x1:]
    bar = np.flatnonzero((row == 0).all(-1))
    bar = bar[: np.argmax(np.diff(np.append(bar, 10**6)) > 1) + 1]  # the line, not its "1 m" beside it
    assert abs((bar.max() - bar.min()) - fig.scale_bar_m * fig.px_per_m) <= 2
    # an origin outside the map: no cross, no legend entry
    away = draw.topdown_figure(costmap((3.0, 4.0)), scale=5)
    assert not any("origin" in e.text for e in away.legend)
    assert {t for t, _ in away.ticks_x} >= {4.0, 8.0} and min(t for t, _ in away.ticks_y) >= 4.0


def _on_gradient(c, entry):
    lo, hi = np.asarray(entry.colors[0], float), np.asarray(entry.colors[1], float)
    t = np.clip(((np.asarray(c, float) - lo) @ (hi - lo)) / ((hi - lo) @ (hi - lo)), 0, 1)
    return np.abs(lo + t * (hi - lo) - c).max() <= 1.5


def test_topdown_legend_explains_every_colour_in_the_map():
    wall = [(r, 40) for r in range(10, 35)]
    cm = costmap((0.0, 0.0), occupied_cells=wall, unknown_rows=4, inflation_m=0.5, radius_m=0.2)
    chair, table = NYU13.index("chair"), NYU13.index("table")
    objects = [
        SimpleNamespace(label=chair, box=Box3D(np.array([1.5, 2.0, 0.4]), np.array([0.5, 0.5, 0.8]), 0.3)),
        SimpleNamespace(label=table, box=Box3D(np.array([3.0, 2.5, 0.4]), np.array([1.0, 0.6, 0.8]), 0.0)),
        SimpleNamespace(label=0, box=None),  # a room: nothing to draw
    ]
    wp = np.array([[0.5, 1.0], [2.0, 1.2], [3.5, 3.0]])
    path = Path(wp, float(np.linalg.norm(np.diff(wp, axis=0), axis=1).sum()), 0.0, np.zeros((0, 2), np.int64))
    traj = np.array([[0.2, 0.6, 1.0], [0.4, 0.8, 1.0], [0.5, 1.0, 1.0]])
    fig = draw.topdown_figure(cm, objects, path, traj, goal_xy=(3.5, 3.0), start_xy=(0.5, 1.0), scale=6)
    texts = " | ".join(e.text for e in fig.legend)
    for word in ("free", "unknown", "occupied", "inflat", "chair", "table", "trajectory", "path", "start", "goal"):
        assert word in texts, word
    assert "bed (object box)" not in texts and "origin" in texts
    x0, y0, x1, y1 = fig.panel
    panel = np.asarray(fig.image)[y0:y1, x0:x1].reshape(-1, 3)
    explained = {tuple(c) for e in fig.legend if e.kind != "gradient" for c in e.colors}
    gradients = [e for e in fig.legend if e.kind == "gradient"]
    colours = {tuple(int(v) for v in c) for c in np.unique(panel, axis=0)}
    unexplained = [c for c in colours if c not in explained and not any(_on_gradient(c, g) for g in gradients)]
    assert not unexplained, unexplained
    # every legend colour is in the picture (no entry for something not drawn)
    for e in fig.legend:
        if e.kind != "gradient":
            assert tuple(e.colors[0]) in colours, e.text
    with pytest.raises(InputError, match="start_xy"):
        draw.topdown_figure(cm, start_xy=(np.nan, 1.0))


def test_topdown_picture_fits_max_px_with_its_axes():
    cm = costmap((0.0, 0.0))
    img = draw.render_topdown(cm, scale=40, max_px=900)
    assert max(img.size) <= 900 and img.size[0] > 600
    bare = draw.render_topdown(cm, scale=3, axes=False)
    assert bare.size == (60 * 3, 40 * 3)


def _node(i, kind, label, xy, z_min=0.0):
    box = None if kind == "room" else Box3D(np.array([*xy, z_min + 0.2]), np.array([0.2, 0.2, 0.4]), 0.0)
    name = "room" if kind == "room" else NYU13.names[label]
    return SceneNode(i, kind, label, name, 1.0, np.array([*xy, 0.0]), box, 1, 10)


def test_scene_graph_captions_never_overlap_in_a_crowded_graph():
    rng = np.random.default_rng(0)
    nodes = [_node(0, "room", 0, (2.0, 2.0))]
    # 45 objects and structure in a 0.8 m cluster, a few spread out, some stacked
    for i in range(1, 46):
        kind = "object" if i % 3 else "structure"
        nodes.append(_node(i, kind, int(rng.integers(1, 14)), 2.0 + rng.uniform(-0.4, 0.4, 2), 0.5 * (i % 7 == 0)))
    for i, xy in enumerate([(0, 0), (4, 0), (0, 4), (4, 4), (2, 4.2)], start=46):
        nodes.append(_node(i, "structure", NYU13.index("wall"), xy))
    edges = [Edge(n.id, "in", 0) for n in nodes[1:]] + [Edge(i, "on", i + 1) for i in range(7, 45, 7)]
    graph = SimpleNamespace(nodes={n.id: n for n in nodes}, edges=edges, floor_z_m=0.0)
    fig = scene_graph_figure(graph, size_px=800)

    boxes = [box for _, box in fig.labels.values()]
    # the crowd is real: captions put right of their discs, as before, would overlap
    naive = [(x + fig.radii[i] + 2, y - 6, x + fig.radii[i] + 2 + 60, y + 8) for i, (x, y) in fig.positions.items()]
    assert sum(boxes_overlap(a, b) for a, b in combinations(naive, 2)) > 20
    for a, b in combinations(boxes, 2):
        assert not boxes_overlap(a, b), (a, b)
    for i, (x, y) in fig.positions.items():
        if graph.nodes[i].kind == "room":
            continue
        r = fig.radii[i]
        for b in boxes:
            assert not boxes_overlap(b, (x - r, y - r, x + r, y + r)), (i, b)
    w, h = fig.image.size
    assert all(0 <= b[0] and b[2] <= w and 0 <= b[1] and b[3] <= h for b in boxes)
    # every node is captioned or listed under the drawing; most are captioned
    assert set(fig.labels) | set(fig.unplaced) == set(graph.nodes) and not set(fig.labels) & set(fig.unplaced)
    assert len(fig.labels) >= 0.8 * len(nodes)
    assert fig.labels[0][0] == "room 0" and fig.labels[46][0] == "46 wall"


def test_place_labels_gives_each_label_its_own_spot_or_none():
    anchors = np.tile([100.0, 100.0, 5.0], (12, 1))  # twelve labels for one point
    boxes = place_labels(anchors, np.tile([40.0, 12.0], (12, 1)), (0, 0, 400, 400))
    assert all(b is not None for b in boxes)
    for a, b in combinations(boxes, 2):
        assert not boxes_overlap(a, b, pad=2.0)
    # no room at all: None, not an overlapping box
    tight = place_labels(anchors[:3], np.tile([40.0, 12.0], (3, 1)), (80, 80, 150, 100))
    assert tight[0] is not None and tight.count(None) >= 1
    blocked = place_labels([[50.0, 50.0, 5.0]], [[30.0, 10.0]], (0, 0, 100, 100), obstacles=[[0, 0, 100, 100]])
    assert blocked == [None]
    with pytest.raises(InputError, match=r"sizes \(2, 2\)"):
        place_labels(anchors[:2], [[1.0, 2.0]], (0, 0, 10, 10))


def _rows_of(img, col, x_px):
    a = np.asarray(img).astype(int)[:, int(x_px)]
    return np.flatnonzero(np.abs(a - col).sum(-1) < 30)


def test_latency_is_drawn_as_measured_steps_and_refresh_dots():
    frame = np.concatenate([np.full(5, 10.0), np.full(5, 90.0)])
    refresh = np.full(10, np.nan)
    refresh[[0, 5]] = 50.0  # a stage that ran on frames 0 and 5 only
    kw = dict(size=(600, 300), ylim=(0, 100))
    steps = line_chart({"fuse": frame, "graph": refresh}, "t", "frame", "ms", style="steps", **kw)
    lines = line_chart({"fuse": frame, "graph": refresh}, "t", "frame", "ms", **kw)
    left, pw = 62, 600 - 62 - 150

    def x_px(frame_x, x_max):
        return left + frame_x / x_max * pw

    y10, y90 = 48 + 208 - 10 / 100 * 208, 48 + 208 - 90 / 100 * 208
    # halfway through frame 4 (steps: 0..10 frames on the axis) the value is frame 4's, 10 ms
    rows = _rows_of(steps, SERIES_COLORS[0], x_px(4.5, 10))
    assert len(rows) and np.abs(rows - y10).max() <= 2
    # a line from frame 4 to frame 5 passes the middle of the plot there
    rows = _rows_of(lines, SERIES_COLORS[0], x_px(4.5, 9))
    assert len(rows) and np.abs(rows - (y10 + y90) / 2).min() <= 3
    # the refresh stage: dots on frames 0 and 5, nothing drawn between them
    for fx in (1.5, 2.5, 3.5):
        assert len(_rows_of(steps, SERIES_COLORS[1], x_px(fx, 10))) == 0
    assert len(_rows_of(steps, SERIES_COLORS[1], x_px(5, 10))) > 0
    with pytest.raises(InputError, match="style"):
        line_chart({"a": frame}, "t", "x", "y", style="bars")


def test_labels_from_above_are_framed_in_metres_with_their_classes():
    from real3d.core import Intrinsics, look_at
    from real3d.mapping import SemanticMap
    from real3d.testing.toyscene import ToyRenderer, boxes_scene
    from real3d.viz.mapview import topdown_labels_figure, topdown_uncertainty_figure

    table = NYU13.index("table")
    # a 0.6 x 0.4 m table centred at (1.0, 0.5) on a 4 x 4 m floor
    scene = boxes_scene([((0, 0, -0.05), (4, 4, 0.1), 0.0, 5, 1), ((1.0, 0.5, 0.25), (0.6, 0.4, 0.5), 0.0, table, 2)])
    K = Intrinsics.from_fov(64, 48, np.radians(70))
    r = ToyRenderer(scene)
    m = SemanticMap(voxel_size_m=0.05)
    for i, a in enumerate(np.linspace(0, 2 * np.pi, 6, endpoint=False)):
        m.integrate(r.render(K, look_at((1.0 + 1.5 * np.cos(a), 0.5 + 1.5 * np.sin(a), 1.2), (1.0, 0.5, 0.2)), index=i))
    fig = topdown_labels_figure(m)
    names = [e.text for e in fig.legend]
    assert "floor" in names and "table" in names and "bed" not in names
    x0, y0, x1, y1 = fig.panel
    panel = np.asarray(fig.image)[y0:y1, x0:x1]
    ys, xs = np.nonzero((panel == NYU13.colors[table]).all(-1))
    centre = fig.xy_to_px([1.0, 0.5])[0] - (x0, y0)
    assert abs(xs.mean() - centre[0]) < 0.05 * fig.px_per_m and abs(ys.mean() - centre[1]) < 0.05 * fig.px_per_m
    assert abs((xs.max() - xs.min()) / fig.px_per_m - 0.6) < 0.15  # 0.6 m wide, in x
    explained = {tuple(c) for e in fig.legend for c in e.colors}
    assert {tuple(int(v) for v in c) for c in np.unique(panel.reshape(-1, 3), axis=0)} <= explained
    unsure = topdown_uncertainty_figure(m)
    assert [e.kind for e in unsure.legend][:2] == ["gradient", "gradient"] and unsure.px_per_m == fig.px_per_m
