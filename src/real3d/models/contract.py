"""The segmentation model contract: what every 2D segmenter offers the rest of real3d.

``Real3DVisionNet`` (torch), ``real3d.deploy.OrtSegmenter`` (onnxruntime FP32 / INT8) and any
future model implement ``Segmenter``; the pipeline, the navigator and the evaluation code
talk to a segmenter only through it. The capability flags are claims that the tests check
against reality (a model that says ``exportable`` exports to ONNX, one that says
``supports_guided`` upsamples along the image's edges when asked).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from real3d.core.labels import NYU13, LabelSet, get_label_set

if TYPE_CHECKING:
    from real3d.core.frame import Frame
    from real3d.core.segmentation import SegmentationResult


@runtime_checkable
class Segmenter(Protocol):
    """A 2D semantic segmentation model.

    Attributes:
        name: the model's name (its preset, e.g. ``"rgbd-small"``).
        label_set: the classes its ``SegmentationResult`` indexes (label id = channel of
            ``probs``; 0 = void, never predicted).
        uses_rgb, uses_depth: which images of a ``Frame`` it reads; a model with
            ``uses_depth`` refuses frames without depth (InputError).
        input_hw: (H, W) whose area the network sees; frames of any size are resized to
            about that area with their own aspect.
        exportable: ``real3d.deploy.export_onnx`` accepts it.
        quantizable: its exported graph can be quantised to static INT8
            (``real3d.deploy.quantize_int8``).
        supports_guided: ``predict(frame, guided=True)`` upsamples the class
            probabilities along the colour image's edges; False: it raises InputError.
    """

    @property
    def name(self) -> str: ...

    @property
    def label_set(self) -> LabelSet: ...

    @property
    def uses_rgb(self) -> bool: ...

    @property
    def uses_depth(self) -> bool: ...

    @property
    def input_hw(self) -> tuple[int, int]: ...

    @property
    def exportable(self) -> bool: ...

    @property
    def quantizable(self) -> bool: ...

    @property
    def supports_guided(self) -> bool: ...

    def predict(
        self, frame: Frame, *, flip: bool = False, scales: Sequence[float] = (1.0,), guided: bool | None = None
    ) -> SegmentationResult:
        """Segment one frame of any size; the result has the frame's size.

        ``flip``: also run the mirrored frame and average; ``scales``: run at these
        multiples of ``input_hw`` and average; ``guided``: None does as the model is
        configured, False upsamples bilinearly, True along the image's edges (needs
        ``supports_guided``). Raises InputError for a frame the model cannot take."""
        ...


def label_set_for(num_classes: int) -> LabelSet:
    """The label set of a network with ``num_classes`` outputs (void excluded): NYUv2-13 for
    13, else classes named by their ids."""
    if num_classes == NYU13.num_classes:
        return NYU13
    names = ("void", *(f"class{i}" for i in range(1, num_classes + 1)))
    colors = np.random.default_rng(num_classes).integers(0, 256, (len(names), 3), dtype=np.uint8)
    colors[0] = 0
    return LabelSet(f"classes{num_classes}", names, colors)


def missing_members(obj) -> list[str]:
    """The ``Segmenter`` members ``obj`` lacks (empty when it implements the contract)."""
    return [m for m in _MEMBERS if not hasattr(obj, m)]


_MEMBERS = (
    "name",
    "label_set",
    "uses_rgb",
    "uses_depth",
    "input_hw",
    "exportable",
    "quantizable",
    "supports_guided",
    "predict",
)


class ConfigCapabilities:
    """The ``Segmenter`` properties that a segmentation network's ``config``
    (``SegNetConfig``) answers, shared by the torch network and the ONNX backends."""

    @property
    def uses_depth(self) -> bool:
        return self.config.uses_depth

    @property
    def uses_rgb(self) -> bool:
        return self.config.uses_rgb

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def model_name(self) -> str:
        """The name the model goes by where it differs from its network's: the model card's
        ``name`` (``rgbd-default`` for an ``rgbd-small`` network), else ``name``."""
        card = getattr(self, "card", None)
        named = card.get("name") if isinstance(card, dict) else None
        return named if isinstance(named, str) and named else self.config.name

    @property
    def label_set(self) -> LabelSet:
        if self.config.label_set is not None:
            return get_label_set(self.config.label_set)
        return label_set_for(self.config.num_classes)

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.config.infer_hw

    @property
    def supports_guided(self) -> bool:
        return self.config.guide_radius > 0
