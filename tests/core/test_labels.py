import numpy as np
import pytest

from real3d.core import NYU13, ConfigError, InputError, map_labels
from real3d.core.labels import NYU40, SYNTH, SYNTH_CLASSES


def test_nyu13_order():
    assert NYU13.names[1:] == (
        "bed",
        "books",
        "ceiling",
        "chair",
        "floor",
        "furniture",
        "objects",
        "picture",
        "sofa",
        "table",
        "tv",
        "wall",
        "window",
    )
    assert NYU13.num_classes == 13


def test_nyu40_folding_matches_official_table():
    # hand-checked entries of class13Mapping: door->wall, desk->table, curtain->window,
    # bookshelf->furniture, pillow->objects, television->tv, floor mat->floor
    ids = [NYU40.index(n) for n in ("door", "desk", "curtain", "bookshelf", "pillow", "television", "floor mat")]
    want = [NYU13.index(n) for n in ("wall", "table", "window", "furniture", "objects", "tv", "floor")]
    assert map_labels(np.array(ids), "nyu40").tolist() == want
    assert map_labels(np.array([0]), "nyu40").tolist() == [0]


def test_synth_classes_fold():
    for fine, coarse in (
        ("door", "wall"),
        ("desk", "table"),
        ("curtain", "window"),
        ("rack", "furniture"),
        ("package", "objects"),
        ("pillar", "wall"),
    ):
        out = map_labels(np.array([SYNTH.index(fine)]), "synth")
        assert NYU13.names[out[0]] == coarse
    assert set(SYNTH_CLASSES.values()) == set(NYU13.names[1:])


def test_errors():
    with pytest.raises(InputError):
        map_labels(np.array([41]), "nyu40")
    with pytest.raises(ConfigError, match="nyu13"):
        map_labels(np.array([1]), "nope")
    with pytest.raises(ConfigError, match="valid"):
        NYU13.index("fridge")
    with pytest.raises(InputError):
        NYU13.colorize(np.array([14]))
