"""Alias of ``real3d.testing.toyscene`` (the toy scenes moved there), kept for existing imports."""

import sys

from real3d.testing import toyscene

sys.modules[__name__] = toyscene
