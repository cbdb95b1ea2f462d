"""Test modules are imported by their file name (pytest's default import mode, no packages
under tests/): two files of the same name in different folders stop the whole run at
collection. Keep the names unique."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_test_module_names_are_unique():
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py" and "__pycache__" not in p.parts)
    assert [n for n, c in names.items() if c > 1] == []
