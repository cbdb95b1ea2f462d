"""What the runtimes that serve an exported segmentation graph share: reading the metadata
``real3d.deploy`` writes into the graph, checking the inputs, and ``predict``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from real3d.core.errors import FormatError, InputError
from real3d.core.frame import Frame
from real3d.core.segmentation import SegmentationResult
from real3d.models.contract import ConfigCapabilities
from real3d.models.segmentation import NetworkSegmentation, SegNetConfig, tta_predict


class GraphSegmenter(ConfigCapabilities):
    """Base of the runtimes of an exported graph (``OrtSegmenter``, ``OpenVinoSegmenter``).

    A subclass opens the graph, calls ``_read_metadata`` and implements ``_infer(feeds)``
    (a dict of float32 arrays by input name -> (B, K, H, W) float32 logits). Capability
    flags: ``exportable`` and ``quantizable`` are False (it is already a deployed graph);
    ``supports_guided`` follows the exported config's ``guide_radius``.
    """

    exportable = False
    quantizable = False
    runtime = "graph"
    """The runtime's name in error messages (``OrtSegmenter``, ``OpenVinoSegmenter``)."""

    def _read_metadata(self, path: Path, meta: dict, input_names: list[str], outputs: list[str]) -> None:
        """Set ``config``, ``head``, ``precision``, ``path`` and ``input_names`` from the
        graph's ``real3d.*`` metadata; FormatError for metadata that is missing or
        invalid, or inputs and outputs that do not fit the config."""
        who = self.runtime
        if "real3d.config" not in meta:
            raise FormatError(f"{who}: {path} carries no real3d.config metadata; export it with real3d.deploy")
        try:
            self.config = SegNetConfig.from_dict(json.loads(meta["real3d.config"]))
        except (ValueError, TypeError) as e:  # JSONDecodeError and ConfigError are ValueErrors
            raise FormatError(f"{who}: {path} has an invalid real3d.config ({e})") from None
        self.head = meta.get("real3d.head", "refined")
        if self.head not in ("refined", "coarse"):
            raise FormatError(f"{who}: {path} has real3d.head {self.head!r}; expected refined or coarse")
        self.precision = meta.get("real3d.precision", "fp32")
        self._model_name = meta.get("real3d.model") or self.config.name
        self.path = path
        self.input_names = list(input_names)
        expected = (["rgb"] if self.config.uses_rgb else []) + (["depth_m"] if self.config.uses_depth else [])
        if sorted(self.input_names) != sorted(expected) or "logits" not in outputs:
            raise FormatError(
                f"{who}: {path} has inputs {self.input_names} and outputs {outputs}; "
                f"its config {self.config.name} needs inputs {expected} and a logits output"
            )

    @property
    def model_name(self) -> str:
        """The name of the model exported (its card's, e.g. ``rgbd-default``), else the network's."""
        return self._model_name

    def _infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def run(self, rgb: np.ndarray | None = None, depth_m: np.ndarray | None = None) -> np.ndarray:
        """rgb (B, 3, H, W) float32 [0, 1], depth_m (B, 1, H, W) float32 metres (each
        where the graph takes it; H, W multiples of 16) -> (B, K, H, W) float32 logits.
        InputError for a missing or misshapen input."""
        feeds = {}
        for name, arr in (("rgb", rgb), ("depth_m", depth_m)):
            if name in self.input_names:
                if arr is None:
                    raise InputError(f"{self.runtime} ({self.config.name}): input {name} is required")
                arr = np.asarray(arr, dtype=np.float32)
                if arr.ndim != 4:
                    raise InputError(f"{self.runtime}: expected {name} (B, C, H, W), got {arr.shape}")
                if arr.shape[2] % 16 or arr.shape[3] % 16:
                    raise InputError(
                        f"{self.runtime}: expected H, W multiples of 16, got {arr.shape[2]}x{arr.shape[3]}"
                    )
                feeds[name] = arr
        return self._infer(feeds)

    def predict(
        self,
        frame: Frame,
        head: str | None = None,
        flip: bool = False,
        scales: Sequence[float] = (1.0,),
        guided: bool | None = None,
        probs_at: str = "frame",
    ) -> SegmentationResult | NetworkSegmentation:
        """Segment one frame; ``head`` must match the exported head (or be None). ``flip``,
        ``scales``, ``guided`` and ``probs_at`` as in ``Real3DVisionNet.predict`` (each
        mirrored or rescaled frame is a run of its own)."""
        if head is not None and head != self.head:
            raise InputError(f"{self.runtime}: this graph was exported with head {self.head!r}, asked for {head!r}")

        def run(rgb_t, depth_t) -> np.ndarray:
            ref = rgb_t if rgb_t is not None else depth_t
            outs = [
                self.run(
                    None if rgb_t is None else rgb_t[i : i + 1].contiguous().numpy(),
                    None if depth_t is None else depth_t[i : i + 1].contiguous().numpy(),
                )
                for i in range(ref.shape[0])
            ]
            return outs[0] if len(outs) == 1 else np.concatenate(outs)  # no copy for one frame

        return tta_predict(
            run, frame, self.config, self.head, flip, scales, guided, model_name=self.model_name, probs_at=probs_at
        )


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, at most 300 characters."""
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""
