"""The machine a measurement ran on, as benchmarks print it next to their figures.

CPU model, the vector extensions that decide which kernels onnxruntime and torch pick
(AVX-512 or not changes INT8 latency most), cores, load and library versions; and the
process's resident memory. Everything here reads the machine (``/proc`` on Linux,
``platform``) and never fails: what cannot be read is reported as such.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import resource
import sys
from collections.abc import Iterable

#: the vector extensions reported by :func:`cpu_extensions`, in this order
VECTOR_EXTENSIONS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")

# import name -> (name people know, distributions that may provide it)
_LIBRARIES = {
    "PIL": ("pillow", ("pillow",)),
    "skimage": ("scikit-image", ("scikit-image",)),
    "open3d": ("open3d", ("open3d-cpu", "open3d")),
    "onnxruntime": ("onnxruntime", ("onnxruntime", "onnxruntime-gpu")),
}


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return fh.read()
    except OSError:
        return ""


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform``; "unknown" if neither
    says). ``cpuinfo``: that file's text, read here when None."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """Every feature flag of the CPU (the ``flags`` lines of ``/proc/cpuinfo``); empty where
    the file cannot be read."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return flags


def cpu_extensions(cpuinfo: str | None = None) -> list[str]:
    """The vector extensions of :data:`VECTOR_EXTENSIONS` this CPU has, in that order."""
    flags = cpu_flags(cpuinfo)
    return [f for f in VECTOR_EXTENSIONS if f in flags]


def has_avx512(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has AVX-512 (``avx512f``)."""
    return "avx512f" in cpu_flags(cpuinfo)


def library_version(name: str) -> str:
    """Version of the library imported as ``name`` ("-" when it is not installed). A module
    already imported answers for itself; otherwise the installed distribution's metadata
    answers, so nothing heavy is imported just to be named."""
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__version__", None):
        return str(module.__version__)
    for dist in _LIBRARIES.get(name, (name, (name,)))[1]:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        return str(getattr(importlib.import_module(name), "__version__", "-"))
    except Exception:  # not installed, or fails to import: either way there is no version
        return "-"


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """{name people know: version} for the libraries imported as ``names``."""
    return {_LIBRARIES.get(n, (n,))[0]: library_version(n) for n in names}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the system has none)."""
    try:
        return [float(x) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info(libraries: Iterable[str] = ("numpy",)) -> dict:
    """The machine as a JSON-ready dict: CPU model, vector extensions, AVX-512, cores,
    platform, Python and the given libraries' versions, load average."""
    ext = cpu_extensions()
    return {
        "cpu": cpu_model(),
        "cpu_extensions": ext,
        "avx512": "avx512f" in ext,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **library_versions(libraries),
        "load_avg": load_average(),
    }


def describe_machine(libraries: Iterable[str] = ("numpy",)) -> str:
    """One line for a benchmark's output: CPU model, cores, AVX-512 or not (with the vector
    extensions), load average, Python and the given libraries' versions."""
    ext = cpu_extensions()
    avx = "AVX-512" if "avx512f" in ext else "no AVX-512"
    load = " ".join(f"{x:.2f}" for x in load_average()) or "n/a"
    versions = ", ".join(f"{k} {v}" for k, v in library_versions(libraries).items())
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {avx} ({' '.join(ext) or 'no vector extensions known'}), "
        f"load average {load}; python {platform.python_version()}" + (f", {versions}" if versions else "")
    )


def current_rss_mb() -> float:
    """Resident memory of this process now, MiB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_rss_reset() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ``clear_refs``); False when
    not possible (then ``peak_rss_mb`` keeps the process-wide peak)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory since the last ``peak_rss_reset`` (or process start), MiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
