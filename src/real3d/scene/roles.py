"""What each class of a label set is to the scene graph and the costmap.

The graph's algorithms treat classes by role, not by name: structure (floor, walls, ...)
becomes structure nodes and the costmap's static layer, the rest are objects; objects that
stand on the floor get their unseen bottom filled in; small things are clustered on a finer
grid; containers hold what lies inside their box; hanging things rest on nothing; a
typical depth bounds how far a box seen from one side is deepened. ``roles_for(name)``
gives the roles of a registered label set: NYUv2-13 (the default) and the warehouse set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from real3d.core.errors import ConfigError
from real3d.core.labels import NYU13, LabelSet, get_label_set
from real3d.scene.config import (
    CONTAINER_CLASSES,
    FLOOR_STANDING_CLASSES,
    HANGING_CLASSES,
    SMALL_OBJECT_CLASSES,
    STRUCTURE_CLASSES,
    TYPICAL_DEPTH_M,
)
from real3d.core.warehouse import (
    WAREHOUSE,
    WAREHOUSE_FLOOR_STANDING,
    WAREHOUSE_SMALL_OBJECTS,
    WAREHOUSE_STRUCTURE,
)


@dataclass(frozen=True)
class ClassRoles:
    """The roles of the classes of ``label_set`` (class names, as in ``label_set.names``).

    Attributes:
        label_set: the label set whose ids the map, graph and costmap hold.
        structure: classes that are structure nodes and the costmap's static layer; must
            include ``"floor"``.
        floor_standing: objects whose boxes reach down to the floor.
        small: objects clustered on the finer grid.
        container: objects that hold things inside their box (an object mostly inside is on it).
        hanging: objects that rest on nothing (on walls, from the ceiling).
        typical_depth_m: class -> typical horizontal depth in metres (box completion).
        max_floor_snap_m: an upper bound on ``SceneGraphConfig.floor_snap_m`` for this
            label set (None: none), where things stand on supports lower than the
            default snap distance (a pallet is 12-15 cm high).
    """

    label_set: LabelSet
    structure: tuple[str, ...]
    floor_standing: tuple[str, ...] = ()
    small: tuple[str, ...] = ()
    container: tuple[str, ...] = ()
    hanging: tuple[str, ...] = ()
    typical_depth_m: Mapping[str, float] = field(default_factory=dict)
    max_floor_snap_m: float | None = None

    def __post_init__(self) -> None:
        names = set(self.label_set.names[1:])
        groups = {
            "structure": self.structure,
            "floor_standing": self.floor_standing,
            "small": self.small,
            "container": self.container,
            "hanging": self.hanging,
            "typical_depth_m": tuple(self.typical_depth_m),
        }
        for what, group in groups.items():
            unknown = sorted(set(group) - names)
            if unknown:
                raise ConfigError(f"ClassRoles.{what}: {unknown} are not classes of label set {self.label_set.name!r}")
        if "floor" not in self.structure:
            raise ConfigError(f"ClassRoles.structure: expected it to include 'floor', got {self.structure}")

    def ids(self, names: Iterable[str]) -> frozenset[int]:
        """Label ids of class ``names`` (which must be in the set)."""
        return frozenset(self.label_set.index(n) for n in names)

    def name(self, label: int) -> str:
        return self.label_set.names[int(label)]

    @property
    def floor_id(self) -> int:
        return self.label_set.index("floor")

    @property
    def structure_ids(self) -> frozenset[int]:
        return self.ids(self.structure)

    @property
    def unbounded_ids(self) -> frozenset[int]:
        """Floor and ceiling (when the set has one): planes, never objects to merge by extent."""
        names = [n for n in ("floor", "ceiling") if n in self.label_set.names]
        return self.ids(names)


NYU13_ROLES = ClassRoles(
    label_set=NYU13,
    structure=STRUCTURE_CLASSES,
    floor_standing=FLOOR_STANDING_CLASSES,
    small=SMALL_OBJECT_CLASSES,
    container=CONTAINER_CLASSES,
    hanging=HANGING_CLASSES,
    typical_depth_m=dict(TYPICAL_DEPTH_M),
)

WAREHOUSE_ROLES = ClassRoles(
    label_set=WAREHOUSE,
    structure=WAREHOUSE_STRUCTURE,
    floor_standing=WAREHOUSE_FLOOR_STANDING,
    small=WAREHOUSE_SMALL_OBJECTS,
    # Packages and boxes stand inside a rack's box, on its shelves.
    container=("rack",),
    hanging=("window", "lamp"),
    # A rack bay is about 1.1 m deep; a pallet 0.8-1.2 m; the rest as the engine sizes them.
    max_floor_snap_m=0.08,
    typical_depth_m={"rack": 1.1, "pallet": 1.0, "crate": 0.6, "barrel": 0.6, "package": 0.4, "box": 0.4, "lamp": 0.3},
)

_ROLES = {"nyu13": NYU13_ROLES, "warehouse": WAREHOUSE_ROLES}


@lru_cache(maxsize=None)
def roles_for(label_set: str) -> ClassRoles:
    """The roles of a label set by name; ConfigError for a set without scene-graph roles."""
    if not isinstance(label_set, str):
        raise ConfigError(f"roles_for: expected a label set name, got {type(label_set).__name__}")
    get_label_set(label_set)  # unknown names: the registry's error, listing the sets
    try:
        return _ROLES[label_set]
    except KeyError:
        raise ConfigError(
            f"label set {label_set!r} has no scene-graph roles; sets with roles: {', '.join(sorted(_ROLES))}"
        ) from None
