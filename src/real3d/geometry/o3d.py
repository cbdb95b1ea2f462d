"""Importing Open3D without a system libusb.

Open3D's CPU wheel links against ``libusb-1.0.so.0``. The PyPI package ``libusb-package``
ships that library; loading it globally with ctypes before ``import open3d`` lets the pip
install alone suffice on a bare machine.
"""

from __future__ import annotations

import ctypes
import importlib


def import_open3d():
    """Return the ``open3d`` module, loading a bundled libusb first if the system has none."""
    try:
        return importlib.import_module("open3d")
    except ImportError as first:
        if "libusb" not in str(first):
            raise
        import libusb_package

        path = libusb_package.get_library_path()
        if path is None:
            raise
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        return importlib.import_module("open3d")
