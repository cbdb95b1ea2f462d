"""Files written whole or not at all.

Every file real3d writes (weights, checkpoints, maps, graphs, reports, exported networks)
goes through here: the content is written to a temporary file in the target's folder,
flushed to disk, and renamed over the target. A reader never sees a half-written file, a
crash or an exception leaves the earlier file (if any) untouched, and no temporary file is
left behind. Temporary names are unique (``mkstemp``), so two processes writing the same
target do not collide: the last rename wins.

    atomic_write_bytes(path, data)         bytes
    atomic_write_text(path, text)          UTF-8 text
    with atomic_path(path) as tmp: ...     any writer that takes a path (np.savez, onnx.save)
    atomic_write_files({path: data, ...})  several files that belong together (tensors + card)

Files are created with the ordinary permissions of the process (``0o666`` less the umask),
not the ``0o600`` that ``mkstemp`` gives.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_files", "atomic_write_text"]


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def _temp_beside(path: Path) -> Path:
    """An empty, uniquely named file next to ``path`` that keeps its suffix (writers such as
    ``np.savez`` or PIL look at the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _finish(tmp: Path) -> None:
    """Flush ``tmp`` to disk and give it ordinary permissions."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, _FILE_MODE)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix) for a writer to fill; on leaving
    the block without an exception it is renamed over ``path``, otherwise removed.

    The writer must write to exactly the path it is given (``np.savez`` does when the
    suffix is ``.npz``)."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        yield tmp
        _finish(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_files(files: Mapping[str | os.PathLike, bytes | str]) -> list[Path]:
    """Write several files that belong together (weights and their card): every one is
    written in full under a temporary name before any is renamed into place, so a failed
    write (disk full, a bad value) leaves all the earlier files as they were. ``str``
    values are written as UTF-8. Returns the paths in the order given."""
    temps: list[tuple[Path, Path]] = []
    try:
        for p, data in files.items():
            p = Path(p)
            tmp = _temp_beside(p)
            temps.append((tmp, p))
            tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
            _finish(tmp)
        for tmp, p in temps:
            os.replace(tmp, p)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
    return [p for _, p in temps]
