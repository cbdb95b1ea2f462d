"""The warehouse label set and its mappings, and labels made from instance images.

``WAREHOUSE`` (``get_label_set("warehouse")``) keeps apart what NYUv2-13 folds together in a
warehouse hall: pillars and dock doors (NYUv2-13: wall), racks (furniture), and packages on
the racks, pallets, loose boxes, crates, barrels and ceiling lamps (all objects). Its ids:

    0 void, 1 floor, 2 wall, 3 ceiling, 4 window, 5 door, 6 pillar, 7 rack, 8 package,
    9 pallet, 10 box, 11 crate, 12 barrel, 13 lamp

Registered mappings (``real3d.core.labels.map_labels``):

- ``synth -> warehouse``: the data engine's fine classes. Every class the engine places in a
  warehouse has its own id (``loose_box`` -> box); of a home's classes the structure keeps
  its name as NYUv2-13 folds it (rug -> floor, curtain and blinds -> window) and ``box`` ->
  box; the rest (furniture, props) become void, so a mixed home/warehouse data set trains
  warehouse models only on what both share.
- ``warehouse -> nyu13``: as the engine folds the same classes (door and pillar -> wall,
  rack -> furniture, the movable things -> objects), so ``synth -> warehouse -> nyu13``
  equals ``synth -> nyu13`` wherever the first step is not void.

The engine renders NYUv2-13 label images; the warehouse labels of a rendered frame come from
its instance image and the scene's objects (``labels_from_instances``), which the engine
already produces, so nothing it renders changes.

Scene-graph roles (``WAREHOUSE_STRUCTURE`` and the rest): floor, wall, ceiling, window,
door and pillar are structure; racks are objects (packages stand *on* them, a support
relation the graph keeps between objects), as are pallets, boxes, crates, barrels and lamps.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from real3d.core.errors import InputError, describe_array
from real3d.core.labels import (
    NYU13,
    SYNTH,
    SYNTH_CLASSES,
    LabelSet,
    get_label_set,
    map_labels,
    register_label_set,
    register_mapping,
)

WAREHOUSE_NAMES: tuple[str, ...] = (
    "void",
    "floor",
    "wall",
    "ceiling",
    "window",
    "door",
    "pillar",
    "rack",
    "package",
    "pallet",
    "box",
    "crate",
    "barrel",
    "lamp",
)

# NYUv2-13's colours for the classes both sets share; distinct ones for the rest.
WAREHOUSE_COLORS = np.array(
    [
        [0, 0, 0],  # void
        [222, 241, 23],  # floor
        [249, 139, 0],  # wall
        [0, 217, 0],  # ceiling
        [225, 228, 194],  # window
        [140, 70, 20],  # door
        [120, 120, 120],  # pillar
        [0, 90, 255],  # rack
        [232, 88, 47],  # package
        [160, 110, 40],  # pallet
        [255, 200, 120],  # box
        [150, 0, 200],  # crate
        [0, 190, 170],  # barrel
        [255, 255, 90],  # lamp
    ],
    dtype=np.uint8,
)

WAREHOUSE = LabelSet("warehouse", WAREHOUSE_NAMES, WAREHOUSE_COLORS)

# data-engine class -> warehouse class; engine classes not listed become void
SYNTH_WAREHOUSE_CLASSES: dict[str, str] = {
    "floor": "floor",
    "rug": "floor",
    "wall": "wall",
    "ceiling": "ceiling",
    "window": "window",
    "curtain": "window",
    "blinds": "window",
    "door": "door",
    "pillar": "pillar",
    "rack": "rack",
    "package": "package",
    "pallet": "pallet",
    "loose_box": "box",
    "box": "box",
    "crate": "crate",
    "barrel": "barrel",
    "lamp": "lamp",
}

# warehouse class -> NYUv2-13 class, as SYNTH_CLASSES folds the engine classes behind them
WAREHOUSE_TO_NYU13_CLASSES: dict[str, str] = {
    "floor": "floor",
    "wall": "wall",
    "ceiling": "ceiling",
    "window": "window",
    "door": SYNTH_CLASSES["door"],
    "pillar": SYNTH_CLASSES["pillar"],
    "rack": SYNTH_CLASSES["rack"],
    "package": SYNTH_CLASSES["package"],
    "pallet": SYNTH_CLASSES["pallet"],
    "box": SYNTH_CLASSES["loose_box"],
    "crate": SYNTH_CLASSES["crate"],
    "barrel": SYNTH_CLASSES["barrel"],
    "lamp": SYNTH_CLASSES["lamp"],
}

SYNTH_TO_WAREHOUSE = np.array(
    [0] + [WAREHOUSE.index(SYNTH_WAREHOUSE_CLASSES.get(n, "void")) for n in SYNTH.names[1:]], dtype=np.uint8
)
WAREHOUSE_TO_NYU13 = np.array(
    [0] + [NYU13.index(WAREHOUSE_TO_NYU13_CLASSES[n]) for n in WAREHOUSE_NAMES[1:]], dtype=np.uint8
)

#: warehouse classes a scene graph keeps as structure nodes (the rest are objects)
WAREHOUSE_STRUCTURE: tuple[str, ...] = ("floor", "wall", "ceiling", "window", "door", "pillar")
#: object classes that stand on the floor (large), and small ones that rest on something
WAREHOUSE_FLOOR_STANDING: tuple[str, ...] = ("rack", "pallet", "crate", "barrel")
WAREHOUSE_SMALL_OBJECTS: tuple[str, ...] = ("package", "box", "lamp")

register_label_set(WAREHOUSE)
register_mapping("synth", "warehouse", SYNTH_TO_WAREHOUSE)
register_mapping("warehouse", "nyu13", WAREHOUSE_TO_NYU13)


def labels_from_instances(instances: np.ndarray, objects: Iterable, label_set: str = "warehouse") -> np.ndarray:
    """Label image of ``label_set`` from an instance image and the scene's objects.

    Each pixel takes the class of the object whose instance it shows, mapped from the data
    engine's fine classes (``real3d.core.labels.SYNTH``) to ``label_set`` through the
    registered ``synth -> label_set`` mapping; instance 0 (nothing hit) is void. With
    ``label_set="nyu13"`` this gives the engine's own label image back.

    Args:
        instances: (H, W) integer instance ids (``Frame.instances``), 0 = none.
        objects: the scene's ``ObjectGT`` (``SceneGT.objects``); anything with
            ``instance_id`` (> 0) and ``class_name`` (a ``SYNTH`` class) will do.
        label_set: name of a label set with a ``synth -> label_set`` mapping.

    Returns:
        (H, W) uint8 labels of ``label_set``, 0 = void.

    Raises:
        InputError: non-integer or non-2-D instances, an object of an unknown class or a
            non-positive id, or an instance id in the image that no object has.
        ConfigError: an unknown label set, or one without a mapping from ``synth``.
    """
    inst = np.asarray(instances)
    if inst.dtype.kind not in "iu" or inst.ndim != 2:
        raise InputError(f"labels_from_instances: expected (H, W) integer instance ids, got {describe_array(inst)}")
    get_label_set(label_set)
    ids, classes = [], []
    for o in objects:
        name = getattr(o, "class_name", None)
        if name not in SYNTH_CLASSES:
            raise InputError(
                f"labels_from_instances: object {getattr(o, 'instance_id', o)!r} has class {name!r}, "
                "not one of the data engine's classes (real3d.core.labels.SYNTH_CLASSES)"
            )
        if int(o.instance_id) <= 0:
            raise InputError(f"labels_from_instances: instance ids must be > 0, got {o.instance_id}")
        ids.append(int(o.instance_id))
        classes.append(SYNTH.index(name))
    top = max(ids, default=0)
    if inst.size and (inst.min() < 0 or inst.max() > top):
        raise InputError(
            f"labels_from_instances: instance ids in the image lie in [{inst.min()}, {inst.max()}], "
            f"the objects' in [1, {top}]"
        )
    fine = np.zeros(top + 1, np.int64)
    known = np.zeros(top + 1, bool)
    fine[ids], known[ids] = classes, True
    known[0] = True
    missing = np.unique(inst[~known[inst]]) if inst.size else np.zeros(0, np.int64)
    if missing.size:
        raise InputError(
            f"labels_from_instances: instance ids {missing[:8].tolist()} appear in the image but no object has them"
        )
    return map_labels(fine, "synth", label_set)[inst]
