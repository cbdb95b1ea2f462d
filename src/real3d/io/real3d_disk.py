"""real3d's own on-disk layout, written by the data engine (``real3d.synth.disk``).

Layout (ScanNet-like)::

    scene.json  intrinsics.json  color/  depth/ (uint16 mm)  label/  instance/  pose/

Reading is delegated to ``real3d.synth.disk.read_sequence``, imported only when such a
folder is opened; its frames then pass through the same options (resize, stride,
max_frames, depth range, label set) and statistics as every other reader.
"""

from __future__ import annotations

from pathlib import Path

from real3d.core import ConfigError, FormatError, InputError
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo


def is_real3d_dir(p: Path) -> bool:
    return (p.is_dir() and (p / "scene.json").is_file() and (p / "intrinsics.json").is_file()
            and (p / "color").is_dir() and (p / "depth").is_dir())


class Real3DSequence(Sequence):
    """A folder written by ``real3d.synth.disk.write_sequence``.

    Args:
        path: the folder.
        options: common :class:`ReadOptions`.

    Raises:
        FormatError: the folder is not in the layout, or ``real3d.synth.disk`` is missing.
    """

    format = "real3d"

    def __init__(self, path, options: ReadOptions | None = None) -> None:
        super().__init__(path, options)
        if self.options.label_set != "nyu13":
            raise ConfigError(f"real3d: the layout stores NYUv2-13 labels; label_set="
                              f"{self.options.label_set!r} cannot be made from them")
        if not is_real3d_dir(self.path):
            raise FormatError(f"real3d: {self.path} lacks scene.json, intrinsics.json, color/ "
                              "or depth/")
        try:
            from real3d.synth import disk
        except ImportError as e:
            raise FormatError(
                f"real3d: {self.path} is in real3d's own layout, but its reader "
                f"(real3d.synth.disk) is not available in this installation ({e})"
            ) from None
        self._source = disk.read_sequence(self.path)
        self.scene_meta = getattr(self._source, "meta", {})

    def _num_source_frames(self) -> int:
        return len(self._source)

    def _read_source(self, i: int) -> RawFrame:
        try:
            f = self._source[i]
        except InputError as e:
            # A Frame the stored files cannot make (e.g. a non-rigid pose) is a file problem.
            raise FormatError(f"real3d: frame {i} of {self.path}: {e}") from e
        # Frames from the data engine are already in real3d's conventions; depth in metres.
        depth = f.depth_m
        invalid = 0 if depth is None else int((depth == 0).sum())
        return RawFrame(
            rgb=f.rgb, depth_m=depth, intrinsics=f.intrinsics, invalid_encoded=invalid,
            world_T_cam=f.world_T_cam, timestamp_s=f.timestamp_s,
            labels=f.labels, label_src="nyu13", instances=f.instances,
            depth_clean_m=f.depth_clean_m, meta=dict(f.meta),
        )

    def close(self) -> None:
        close = getattr(getattr(self, "_source", None), "close", None)
        if callable(close):
            close()

    def _info(self) -> SequenceInfo:
        from real3d.io.folder import find_intrinsics_file

        intr = find_intrinsics_file(self.path)
        return SequenceInfo(
            format=self.format, path=str(self.path), num_frames=0, num_source_frames=0,
            size_hw=None if intr is None else intr.size_hw, intrinsics=intr,
            depth_encoding="uint16 mm", label_set=self.options.label_set
            if (self.path / "label").is_dir() else None,
            pose_source="pose/" if (self.path / "pose").is_dir() else None,
        )

