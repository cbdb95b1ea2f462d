"""The package, tests, benchmarks and tools pass the project's ruff rule set (pyproject.toml:
unused and undefined names, syntax errors, bare excepts, lines over the width) and are
formatted by ``ruff format``."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


PATHS = ["src", "tests", "benchmarks", "tools"]


def _need_ruff() -> None:
    if shutil.which("ruff") is None:
        try:
            import ruff  # noqa: F401
        except ImportError:
            pytest.skip("ruff is not installed (pip install -e '.[test]')")


def test_ruff_rule_set_is_clean():
    _need_ruff()
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests", "benchmarks", "tools"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_code_is_ruff_formatted():
    _need_ruff()
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, "run `ruff format src tests benchmarks tools`:\n" + r.stdout + r.stderr
