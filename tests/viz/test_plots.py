import numpy as np

from real3d.core.labels import NYU13
from real3d.viz.plots import bar_chart, label_legend, line_chart, segmentation_samples


def _colour_pixels(img, rgb):
    a = np.asarray(img)
    return int((np.abs(a.astype(int) - np.array(rgb)).sum(-1) < 30).sum())


def test_line_chart_draws_each_series_in_its_colour():
    img = line_chart({"a": np.linspace(0, 10, 50), "b": np.full(50, 5.0)}, "t", "x", "ms", size=(400, 200))
    assert img.size == (400, 200)
    assert _colour_pixels(img, (0, 114, 178)) > 50 and _colour_pixels(img, (230, 159, 0)) > 50
    empty = line_chart({}, "t", "x", "y", size=(300, 150))
    assert _colour_pixels(empty, (0, 114, 178)) == 0


def test_line_chart_clips_outliers_into_the_plot():
    v = np.ones(100)
    v[50] = 1e6  # one stall must not flatten the rest
    img = np.asarray(line_chart({"a": v}, "t", "x", "y", size=(400, 200)))
    rows = np.flatnonzero((np.abs(img.astype(int) - (0, 114, 178)).sum(-1) < 30).any(axis=1))
    assert rows.max() - rows.min() > 100  # the line spans most of the plot height


def test_bar_chart_and_legend_use_class_colours():
    colors = {n: NYU13.colors[i + 1] for i, n in enumerate(NYU13.names[1:])}
    img = bar_chart({"bed": 10.0, "wall": 50.0}, "t", "%", colors=colors, size=(400, 200))
    assert _colour_pixels(img, NYU13.colors[12]) > _colour_pixels(img, NYU13.colors[1]) > 0
    leg = label_legend(width=700)
    assert _colour_pixels(leg, NYU13.colors[5]) > 100


def test_segmentation_samples_panels():
    rgb = np.zeros((30, 40, 3), np.uint8)
    pred = np.full((30, 40), 12, np.uint8)
    gt = np.full((30, 40), 5, np.uint8)
    img = segmentation_samples([{"rgb": rgb, "pred": pred, "gt": gt, "index": 0}], max_width=80)
    assert img.width == 3 * 80 + 8
    assert _colour_pixels(img, NYU13.colors[12]) == 80 * 60 and _colour_pixels(img, NYU13.colors[5]) == 80 * 60
    no_gt = segmentation_samples([{"rgb": rgb, "pred": pred, "gt": None, "index": 0}], max_width=80)
    assert no_gt.width == 2 * 80 + 4
