import numpy as np

from real3d.scene.clusters import BoxFitCache, components, link_groups, main_part, merge_stacked


def test_link_groups_are_connected_components_in_order_of_first_member():
    pairs = {(0, 3), (3, 4), (1, 2)}
    assert link_groups(6, lambda i, j: (i, j) in pairs) == [[0, 3, 4], [1, 2], [5]]
    assert link_groups(0, lambda i, j: True) == []


def test_components_join_diagonal_neighbours_and_split_gaps():
    pts = np.array(
        [
            [0.05, 0.05, 0.05],
            [0.15, 0.15, 0.15],  # diagonal cells: one group
            [0.45, 0.05, 0.05],
        ]
    )  # two empty cells away
    groups = sorted(sorted(g.tolist()) for g in components(pts, 0.1))
    assert groups == [[0, 1], [2]]


def test_main_part_drops_fragments_under_a_tenth_of_the_largest():
    big = np.stack(np.meshgrid(np.arange(5), np.arange(5), [0], indexing="ij"), -1).reshape(-1, 3) * 0.1
    pts = np.concatenate([big, [[2.0, 2.0, 0.0]], big[:3] + [0.0, 5.0, 0.0]]) + 0.05  # 25, 1 and 3 points
    keep = main_part(pts, np.arange(len(pts)), 0.1)
    assert keep.tolist() == list(range(25)) + [26, 27, 28]


def test_merge_stacked_joins_parts_over_one_footprint_only():
    top = np.array([[x, y, 0.7] for x in (0.0, 1.0) for y in (0.0, 0.6)])
    leg = np.array([[0.1 + dx, 0.1 + dy, 0.2] for dx in (0.0, 0.3) for dy in (0.0, 0.3)])
    aside = leg + [3.0, 0.0, 0.0]
    pts = np.concatenate([top, leg, aside])
    groups = [np.arange(4), np.arange(4, 8), np.arange(8, 12)]
    merged = merge_stacked(pts, groups, 0.5)
    assert [g.tolist() for g in merged] == [list(range(8)), list(range(8, 12))]


def test_box_fit_cache_keeps_boxes_of_unchanged_groups():
    pts = np.random.default_rng(0).uniform(0, 1, (50, 3))
    rows = np.arange(50)
    cache = BoxFitCache()
    first = cache.fitter(pts, rows, 0.0)(np.arange(20))
    # Same rows and points: the box is taken from the last update.
    assert cache.fitter(pts.copy(), rows, 0.0)(np.arange(20)) is first
    # Same rows, moved points (the surface of those voxels moved): fitted again.
    moved = pts + 5.0
    again = cache.fitter(moved, rows, 0.0)(np.arange(20))
    assert again is not first and again.center[0] > 5.0
    other = cache.fitter(moved, rows, 0.0)(np.arange(21))
    assert other is not first and other.center[0] > 5.0
