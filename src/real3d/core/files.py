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
    with atomic_dir(path) as tmp: ...      a folder of files that belong together (a run's outputs)

``atomic_dir`` fills a temporary sibling folder (``.NAME.tmp-PID-XXXX``) and swaps it in by
renames at the end: the earlier folder is renamed aside (``.NAME.old-PID-XXXX``), the new
one into place, and the earlier one deleted. Readers see either the whole earlier folder
or the whole new one. A process killed outright (``kill -9``) cannot clean up: the next
``atomic_dir`` on the same path removes such leftovers of processes that no longer run
(``remove_stale_temporaries``), and restores the earlier folder when a swap was cut
between its two renames. ``make_staging_dir`` and ``swap_in_dir`` are its two halves, for a
caller that decides late whether the new folder is kept.

Files and folders are created with the ordinary permissions of the process (``0o666`` /
``0o777`` less the umask), not the ``0o600`` / ``0o700`` that ``mkstemp`` / ``mkdtemp`` give.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_files",
    "atomic_write_text",
    "make_staging_dir",
    "remove_stale_temporaries",
    "swap_in_dir",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()
_FILE_MODE = 0o666 & ~_UMASK
_DIR_MODE = 0o777 & ~_UMASK


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


# ---------------------------------------------------------------------------- folders
def _temporaries(path: Path) -> re.Pattern:
    """Names of ``atomic_dir``'s temporaries of ``path``: group 1 ``tmp`` (a folder being
    filled) or ``old`` (the earlier folder renamed aside), group 2 the writer's pid."""
    return re.compile(rf"^\.{re.escape(path.name)}\.(tmp|old)-(\d+)-[a-z0-9_]+$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists under another user, or cannot tell: leave its files alone
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders that ``atomic_dir(path)`` calls of processes that no
    longer run left beside ``path`` (killed outright, or the machine went down).

    Only folders named by ``atomic_dir``'s own pattern for this very ``path`` are touched,
    and only when the pid in their name is not a running process. When ``path`` itself is
    missing and an earlier folder was renamed aside (a swap cut between its two renames),
    that folder is renamed back instead. Returns the removed paths."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        return []
    pattern = _temporaries(path)
    removed = []
    for entry in sorted(parent.iterdir()):
        m = pattern.match(entry.name)
        if m is None or entry.is_symlink() or not entry.is_dir():
            continue
        pid = int(m[2])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if m[1] == "old" and not os.path.lexists(path):
            os.rename(entry, path)
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not os.path.lexists(entry):
            removed.append(entry)
    return removed


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # not every file system syncs folders; the renames are done either way
    finally:
        os.close(fd)


def make_staging_dir(path: str | os.PathLike) -> Path:
    """A new empty folder beside ``path`` (``.NAME.tmp-PID-XXXX``) to fill and then move
    into place with ``swap_in_dir``; ``path``'s parent is created when missing and stale
    temporaries of earlier killed processes are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))


def swap_in_dir(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename the filled folder ``tmp`` (from ``make_staging_dir``) to ``path``. An existing
    ``path`` is renamed aside first and deleted after; if the second rename fails, it is
    renamed back."""
    tmp, path = Path(tmp), Path(path)
    os.chmod(tmp, _DIR_MODE)  # mkdtemp gives 0o700
    aside = None
    if os.path.lexists(path):
        aside = path.with_name(f".{path.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
        os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except BaseException:
        if aside is not None:
            os.rename(aside, path)
        raise
    _fsync_dir(path.parent)
    if aside is not None:
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path`` to fill; on leaving the block
    without an exception it replaces ``path`` (and everything in it) as a whole, otherwise
    it is deleted and ``path`` is left as it was.

    Files written into the folder should be flushed to disk by their writers (the
    ``atomic_*`` functions do)."""
    tmp = make_staging_dir(path)
    try:
        yield tmp
        swap_in_dir(tmp, path)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
