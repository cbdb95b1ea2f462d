"""Ground truth in the label set of a pipeline's model, for the scores of a run.

The data engine labels its frames and meshes in NYUv2-13, but keeps what each pixel and
face shows in its own fine classes (a frame's instance image and the scene's objects; a
mesh's ``face_class``). A run with a model of another label set (the warehouse set) is
scored against ground truth relabelled from those through the registered ``synth -> set``
mapping (``real3d.core.labels.map_labels``), as ``labels=warehouse`` data specs train on
it. Ground truth that cannot be relabelled (a real recording's NYUv2-13 labels) is refused
with a ConfigError: ids of two label sets would be compared as if they were one.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from real3d.core.errors import ConfigError, InputError
from real3d.core.frame import Frame
from real3d.core.gt import SceneGT
from real3d.core.labels import SYNTH, LabelSet, get_label_set, map_labels


def _name(label_set: LabelSet | str) -> str:
    if isinstance(label_set, LabelSet):
        return label_set.name
    if isinstance(label_set, str):
        return get_label_set(label_set).name
    raise InputError(f"expected a LabelSet or a label set name, got {type(label_set).__name__}")


def _synth_table(name: str, what: str) -> np.ndarray:
    """(len(SYNTH.names),) uint8 ids of label set ``name`` of the engine's fine classes."""
    try:
        return map_labels(np.arange(len(SYNTH.names)), "synth", name)
    except ConfigError as e:
        raise ConfigError(f"{what}: the data engine's ground truth cannot be labelled in {name!r} ({e})") from None


def ground_truth_frame(frame: Frame, label_set: LabelSet | str, objects=None) -> Frame:
    """``frame`` with its ground-truth ``labels`` in ``label_set``.

    A frame without labels, or whose labels already are of ``label_set``, comes back as it
    is. Otherwise its labels are made from its instance image and ``objects`` (the scene's
    ``ObjectGT``: ``SceneGT.objects``, anything with ``instance_id`` and an engine
    ``class_name``; ``real3d.core.warehouse.labels_from_instances``).

    Raises:
        ConfigError: the labels are of another label set and cannot be relabelled (no
            instance image or no ``objects``; a label set without a mapping from the
            engine's classes).
        InputError: an instance id of the image that no object has.
    """
    from real3d.core.warehouse import labels_from_instances

    name = _name(label_set)
    if frame.labels is None or frame.label_set == name:
        return frame
    if frame.instances is None or objects is None:
        missing = "instance image" if frame.instances is None else "scene objects"
        raise ConfigError(
            f"ground truth of frame {frame.index}: its labels are {frame.label_set!r} ids, the model predicts "
            f"{name!r}; they cannot be compared, and without the {missing} they cannot be relabelled "
            f"(a data-engine recording can; segment with a {frame.label_set!r} model to score against them)"
        )
    _synth_table(name, f"ground truth of frame {frame.index}")
    labels = labels_from_instances(frame.instances, objects, name)
    return dataclasses.replace(frame, labels=labels, label_set=name)


def ground_truth_scene(scene: SceneGT, label_set: LabelSet | str) -> SceneGT:
    """``scene`` with its mesh's ``face_label`` and its objects' ``label`` in ``label_set``,
    made from the engine's fine classes (``face_class``, ``class_name``); NYUv2-13 gives
    ``scene`` itself. Objects whose class has no counterpart in ``label_set`` get 0 (void)
    and are not scored.

    Raises:
        ConfigError: ``label_set`` has no mapping from the engine's classes.
    """
    name = _name(label_set)
    if name == "nyu13":
        return scene
    table = _synth_table(name, "ground truth of the scene")
    mesh = dataclasses.replace(scene.mesh, face_label=table[np.asarray(scene.mesh.face_class, np.int64)])
    objects = [dataclasses.replace(o, label=int(table[SYNTH.index(o.class_name)])) for o in scene.objects]
    return dataclasses.replace(scene, mesh=mesh, objects=objects)
