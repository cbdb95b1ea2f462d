"""Label sets and the mappings between them, declared in one place.

real3d's working label set is NYUv2-13 with 0 = void (ignored by losses and metrics):
1 bed, 2 books, 3 ceiling, 4 chair, 5 floor, 6 furniture, 7 objects, 8 picture, 9 sofa,
10 table, 11 tv, 12 wall, 13 window. Labels are uint8 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import ConfigError, InputError, describe_array

VOID = 0

NYU13_NAMES: tuple[str, ...] = (
    "void",
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

# One distinguishable colour per NYUv2-13 class (void black).
NYU13_COLORS = np.array(
    [
        [0, 0, 0],  # void
        [0, 0, 255],  # bed
        [232, 88, 47],  # books
        [0, 217, 0],  # ceiling
        [148, 0, 240],  # chair
        [222, 241, 23],  # floor
        [255, 205, 205],  # furniture
        [0, 223, 228],  # objects
        [106, 135, 204],  # picture
        [116, 28, 41],  # sofa
        [240, 35, 235],  # table
        [0, 166, 156],  # tv
        [249, 139, 0],  # wall
        [225, 228, 194],  # window
    ],
    dtype=np.uint8,
)

NYU40_NAMES: tuple[str, ...] = (
    "void",
    "wall",
    "floor",
    "cabinet",
    "bed",
    "chair",
    "sofa",
    "table",
    "door",
    "window",
    "bookshelf",
    "picture",
    "counter",
    "blinds",
    "desk",
    "shelves",
    "curtain",
    "dresser",
    "pillow",
    "mirror",
    "floor mat",
    "clothes",
    "ceiling",
    "books",
    "refridgerator",
    "television",
    "paper",
    "towel",
    "shower curtain",
    "box",
    "whiteboard",
    "person",
    "night stand",
    "toilet",
    "sink",
    "lamp",
    "bathtub",
    "bag",
    "otherstructure",
    "otherfurniture",
    "otherprop",
)

# NYUv2-40 id -> NYUv2-13 id (index 0 = void), the official class13Mapping table.
NYU40_TO_NYU13 = np.array(
    [
        0,
        12,
        5,
        6,
        1,
        4,
        9,
        10,
        12,
        13,
        6,
        8,
        6,
        13,
        10,
        6,
        13,
        6,
        7,
        7,
        5,
        7,
        3,
        2,
        6,
        11,
        7,
        7,
        7,
        7,
        7,
        7,
        6,
        7,
        7,
        7,
        7,
        7,
        7,
        6,
        7,
    ],
    dtype=np.uint8,
)

# The data engine's fine classes -> NYUv2-13, following how NYUv2-40 folds (door -> wall,
# desk -> table, curtain/blinds -> window, shelves/cabinets -> furniture, props -> objects).
# Warehouse classes keep their own names and fold the same way.
SYNTH_CLASSES: dict[str, str] = {
    "wall": "wall",
    "door": "wall",
    "floor": "floor",
    "rug": "floor",
    "ceiling": "ceiling",
    "window": "window",
    "curtain": "window",
    "blinds": "window",
    "bed": "bed",
    "chair": "chair",
    "office_chair": "chair",
    "stool": "chair",
    "sofa": "sofa",
    "armchair": "sofa",
    "table": "table",
    "desk": "table",
    "coffee_table": "table",
    "cabinet": "furniture",
    "dresser": "furniture",
    "bookshelf": "furniture",
    "shelves": "furniture",
    "nightstand": "furniture",
    "wardrobe": "furniture",
    "counter": "furniture",
    "fridge": "furniture",
    "tv_stand": "furniture",
    "books": "books",
    "picture": "picture",
    "tv": "tv",
    "pillow": "objects",
    "lamp": "objects",
    "plant": "objects",
    "box": "objects",
    "bottle": "objects",
    "cup": "objects",
    "bowl": "objects",
    "vase": "objects",
    "monitor": "objects",
    "bag": "objects",
    "clothes": "objects",
    "paper": "objects",
    "sink": "objects",
    "toilet": "objects",
    "mirror": "objects",
    "clutter": "objects",
    # warehouse
    "rack": "furniture",
    "package": "objects",
    "pallet": "objects",
    "pillar": "wall",
    "loose_box": "objects",
    "crate": "objects",
    "barrel": "objects",
}
SYNTH_CLASS_NAMES: tuple[str, ...] = ("void", *SYNTH_CLASSES.keys())


@dataclass(frozen=True)
class LabelSet:
    """A list of class names (index 0 = void) with display colours.

    Attributes:
        name: identifier, e.g. ``"nyu13"``.
        names: class names, ``names[0]`` is void.
        colors: (N, 3) uint8 display colours, one per class.
    """

    name: str
    names: tuple[str, ...]
    colors: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"LabelSet.name: expected a non-empty string, got {self.name!r}")
        names = self.names
        if (
            isinstance(names, str)
            or not isinstance(names, (tuple, list))
            or len(names) < 2
            or not all(isinstance(n, str) for n in names)
        ):
            raise InputError(
                f"LabelSet {self.name}: expected names as a tuple of strings, void first and at "
                f"least one class, got {names!r}"
            )
        if len(set(names)) != len(names):
            raise InputError(f"LabelSet {self.name}: class names repeat: {names!r}")
        object.__setattr__(self, "names", tuple(names))
        colors = np.asarray(self.colors) if not isinstance(self.colors, (str, bytes)) else None
        if colors is None or colors.dtype.kind not in "iu" or colors.ndim != 2 or colors.shape[1] != 3:
            raise InputError(
                f"LabelSet {self.name}: expected colours as an (N, 3) uint8 array, got {describe_array(self.colors)}"
            )
        if len(names) != len(colors):
            raise InputError(f"LabelSet {self.name}: {len(names)} names but {len(colors)} colours")
        if colors.size and (colors.min() < 0 or colors.max() > 255):
            raise InputError(
                f"LabelSet {self.name}: colours must lie in [0, 255], got [{colors.min()}, {colors.max()}]"
            )
        object.__setattr__(self, "colors", colors.astype(np.uint8))

    @property
    def num_classes(self) -> int:
        """Number of real classes, void excluded (13 for NYUv2-13)."""
        return len(self.names) - 1

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ConfigError(f"LabelSet {self.name}: unknown class {name!r}; valid: {', '.join(self.names)}") from None

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Labels (H, W) integer -> (H, W, 3) uint8 colour image; out-of-range ids raise."""
        labels = _integer_labels(labels, f"LabelSet {self.name}.colorize")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.names)):
            raise InputError(
                f"LabelSet {self.name}.colorize: labels must lie in [0, {len(self.names) - 1}], "
                f"got [{labels.min()}, {labels.max()}]"
            )
        return self.colors[labels]


def _integer_labels(labels, name: str) -> np.ndarray:
    """``labels`` as an integer array; float, bool, complex or object labels raise InputError
    (a float label 2.7 would otherwise be truncated to 2 without a word)."""
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name}: expected an integer label array, got {type(labels).__name__} ({e})") from None
    if labels.dtype.kind not in "iu":
        raise InputError(f"{name}: expected integer labels, got {describe_array(labels)}")
    return labels


def _palette(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    colors = rng.integers(40, 256, size=(n, 3)).astype(np.uint8)
    colors[0] = 0
    return colors


NYU13 = LabelSet("nyu13", NYU13_NAMES, NYU13_COLORS)
NYU40 = LabelSet("nyu40", NYU40_NAMES, _palette(len(NYU40_NAMES), 40))
SYNTH = LabelSet("synth", SYNTH_CLASS_NAMES, _palette(len(SYNTH_CLASS_NAMES), 7))

# synthetic fine id -> NYUv2-13 id
SYNTH_TO_NYU13 = np.array([0] + [NYU13.index(SYNTH_CLASSES[n]) for n in SYNTH_CLASS_NAMES[1:]], dtype=np.uint8)

_LABEL_SETS = {"nyu13": NYU13, "nyu40": NYU40, "synth": SYNTH}
_MAPPINGS = {("nyu40", "nyu13"): NYU40_TO_NYU13, ("synth", "nyu13"): SYNTH_TO_NYU13}


def get_label_set(name: str) -> LabelSet:
    """Label set by name; an unknown name raises ConfigError listing the valid ones."""
    try:
        return _LABEL_SETS[name]
    except KeyError:
        raise ConfigError(f"unknown label set {name!r}; valid: {', '.join(sorted(_LABEL_SETS))}") from None


def map_labels(labels: np.ndarray, src: str, dst: str = "nyu13") -> np.ndarray:
    """Map a label image from label set ``src`` to ``dst`` (uint8 out).

    Non-integer labels and ids outside the source set raise InputError; identical sets
    return a uint8 copy.
    """
    labels = _integer_labels(labels, f"map_labels {src}->{dst}")
    if src == dst:
        n = len(get_label_set(src).names)
        if labels.size and (labels.min() < 0 or labels.max() >= n):
            raise InputError(
                f"map_labels {src}->{dst}: ids must lie in [0, {n - 1}], got [{labels.min()}, {labels.max()}]"
            )
        return labels.astype(np.uint8, copy=True)
    try:
        table = _MAPPINGS[(src, dst)]
    except KeyError:
        raise ConfigError(
            f"no label mapping {src} -> {dst}; available: " + ", ".join(f"{a}->{b}" for a, b in _MAPPINGS)
        ) from None
    if labels.size and (labels.min() < 0 or labels.max() >= len(table)):
        raise InputError(
            f"map_labels {src}->{dst}: ids must lie in [0, {len(table) - 1}], got [{labels.min()}, {labels.max()}]"
        )
    return table[labels.astype(np.int64)]


def register_mapping(src: str, dst: str, table: np.ndarray) -> None:
    """Register a lookup table ``src id -> dst id`` (used by readers with own label sets).

    Raises:
        InputError: not a non-empty 1-D integer table, or ids outside ``dst``'s range
            (or [0, 255] for an unregistered ``dst``).
    """
    table = _integer_labels(table, f"register_mapping {src}->{dst}")
    if table.ndim != 1 or table.size == 0:
        raise InputError(f"register_mapping: expected a non-empty 1-D table, got {describe_array(table)}")
    top = len(_LABEL_SETS[dst].names) - 1 if dst in _LABEL_SETS else 255
    if table.min() < 0 or table.max() > top:
        raise InputError(
            f"register_mapping {src}->{dst}: ids must lie in [0, {top}], got [{table.min()}, {table.max()}]"
        )
    _MAPPINGS[(src, dst)] = table.astype(np.uint8)


def register_label_set(label_set: LabelSet) -> None:
    """Make ``label_set`` known to ``get_label_set`` under its name."""
    if not isinstance(label_set, LabelSet):
        raise InputError(f"register_label_set: expected a LabelSet, got {type(label_set).__name__}")
    _LABEL_SETS[label_set.name] = label_set
