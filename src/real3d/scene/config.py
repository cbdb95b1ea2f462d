"""Parameters of the scene graph and the class groups its algorithms treat alike."""

from __future__ import annotations

from dataclasses import dataclass

STRUCTURE_CLASSES = ("floor", "wall", "ceiling", "window")
# Classes that stand on the floor: their legs and bottoms are rarely seen, so their boxes
# reach down to the floor.
FLOOR_STANDING_CLASSES = ("bed", "chair", "sofa", "table", "furniture")
# Classes of small things that often stand side by side (a monitor next to a lamp): they are
# clustered on a finer grid so that neighbours do not merge.
SMALL_OBJECT_CLASSES = ("objects", "books", "tv", "picture")
# Furniture that holds things inside its box (shelves, bookcases, cabinets): an object
# mostly inside such a box is on it.
CONTAINER_CLASSES = ("furniture",)
# Classes that hang on walls rather than rest on something.
HANGING_CLASSES = ("picture", "window")
# Typical horizontal depth (metres) of each class across the face a camera sees. An object
# seen from one side only has a box as thin as its visible surface; the box is deepened
# behind that surface up to the next surface of another class, observed free space, or this
# depth, whichever comes first (see ``SceneGraphConfig.complete_depth``).
TYPICAL_DEPTH_M = {
    "bed": 2.0,
    "chair": 0.5,
    "sofa": 0.9,
    "table": 0.7,
    "furniture": 0.5,
    "tv": 0.1,
    "objects": 0.3,
    "books": 0.25,
    "picture": 0.04,
}


@dataclass(frozen=True)
class SceneGraphConfig:
    """Parameters of ``SceneGraph`` and the algorithms that build it (metres unless named
    otherwise).

    Attributes:
        cluster_cell_m: grid on which voxels are connected into instances (26-neighbourhood);
            coarser than the map voxel so one-voxel gaps do not split an object.
        small_cluster_cell_m: the same for ``SMALL_OBJECT_CLASSES``.
        min_cluster_voxels: smaller clusters are dropped as noise.
        min_furniture_voxels: the same for ``FLOOR_STANDING_CLASSES`` (a lone table leg
            is not a table).
        merge_overlap: clusters of one class whose footprints overlap by more than this
            fraction of the smaller one are one object (parts stacked on each other).
        min_confidence: voxels whose class posterior is lower take no part.
        min_weight: voxels fused fewer times take no part.
        support_tol_m: |bottom of A - top of B| below this (with overlapping footprints)
            means A is on B; A also is on a larger B whose box holds A's bottom (shelves).
        support_gap_m: an object off the floor with nothing within ``support_tol_m`` below
            it is on the highest object whose top lies at most this far below its bottom
            (the underside of things on tall furniture is often out of a robot's view).
        floor_snap_m: objects whose lowest voxel is this close to the floor get their box
            extended down to it (their bottom is never seen); floor-standing classes
            (``FLOOR_STANDING_CLASSES``) do too unless the space just under them was seen
            free (an upper kitchen cabinet, a wall shelf; see
            ``real3d.scene.completion.free_below``).
        next_to_m: footprints closer than this are next to each other.
        box_trim: box extents span the [trim, 1 - trim] quantiles of the voxels (robust to
            stray edge voxels).
        match_iou: a new cluster keeps the id of the old node of the same class with the
            highest 3D IoU above this, else of one whose centroid is within match_dist_m.
        room_erosion_m: free space is eroded by this much to split rooms at doors.
        room_min_area_m2: smaller room cores are ignored.
        grid_resolution_m: cell of the free-space grid used for rooms.
        max_extent_m, max_cells: the largest free-space grid (longest side, metres;
            cells): the grid of a map whose bounds exceed either (a voxel cluster far away,
            from a bad pose) covers a window that size around the last camera position,
            and rooms are found there only.
        snap_points: move voxel centres onto the surface before fitting boxes (costs
            six hash lookups per voxel).
        measured_points: with ``snap_points``, voxels that measured points fell in stand for
            the mean of those points (``SemanticMap.semantic_points(measured=True)``).
        z_min_m, z_max_m: height band of the free-space grid.
        complete_depth: deepen the boxes of objects seen from one side (their mean surface
            normal points one way along a box axis): march behind the visible face, in
            voxel steps, until a third of the probes meet a surface of another class or two
            thirds meet observed free space, at most to the class's ``TYPICAL_DEPTH_M``.
        instance_merge_iou: map instances of one class whose boxes overlap more are one
            object (see ``real3d.scene.clusters.merge_overlapping``).
        complete_min_normal: the horizontal part of the mean unit normal must exceed this
            (objects seen all round have mean normals near zero and are left alone).
        refine_boxes: pass object boxes through the shipped box refiner
            (``real3d.scene.refine``: class size statistics and the free, unknown and
            occupied space around each face learnt on data-engine homes) when the graph is
            built without an explicit ``refiner``.
        min_object_score: clusters whose refiner existence probability is lower are not
            made nodes; None takes the refiner's model card value.
        isolated_min_voxels, isolated_m: a cluster scored below ``min_object_score`` is
            still made a node when it has at least ``isolated_min_voxels`` voxels and no
            other cluster of its class lies within ``isolated_m`` (centroids) or overlaps
            its footprint. The existence score is there to reject second fragments of an
            object and things barely seen; a cluster of that size with nothing of its
            class around is neither (0 disables).
        nms_iou: of two object nodes of one class whose refined boxes overlap at a 3D IoU
            above this, only the one with the higher existence score is kept
            (non-maximum suppression: the refiner can grow two fragments of one object
            into the same whole-object box); None disables.
        label_set: name of the label set of the map's class ids (``"nyu13"`` or
            ``"warehouse"``); the classes' roles (structure, floor-standing, small,
            containers, typical depths) come from ``real3d.scene.roles.roles_for``. The
            shipped box refiner is learnt on NYUv2-13 homes: other label sets build boxes
            without it (``refine_boxes`` has no effect there).
    """

    cluster_cell_m: float = 0.1
    small_cluster_cell_m: float = 0.075
    min_cluster_voxels: int = 10
    min_furniture_voxels: int = 40
    merge_overlap: float = 0.5
    min_confidence: float = 0.5
    min_weight: float = 1.0
    support_tol_m: float = 0.12
    support_gap_m: float = 0.3
    floor_snap_m: float = 0.25
    next_to_m: float = 0.5
    box_trim: float = 0.02
    match_iou: float = 0.1
    match_dist_m: float = 0.5
    room_erosion_m: float = 0.4
    room_min_area_m2: float = 0.5
    grid_resolution_m: float = 0.1
    max_extent_m: float = 200.0
    max_cells: int = 4_000_000
    snap_points: bool = True
    measured_points: bool = True
    z_min_m: float = 0.1
    z_max_m: float = 1.5
    complete_depth: bool = True
    complete_min_normal: float = 0.5
    instance_merge_iou: float = 0.25
    refine_boxes: bool = True
    min_object_score: float | None = None
    isolated_min_voxels: int = 20
    isolated_m: float = 1.0
    nms_iou: float | None = 0.3
    label_set: str = "nyu13"
