import os
import subprocess
import sys
import tomllib
from pathlib import Path

from typer.testing import CliRunner

import real3d
from real3d.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def _python_m(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "real3d", *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_version_is_the_package_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert real3d.__version__ == project["version"]
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output == f"real3d {project['version']}\n"


def test_version_is_listed_in_the_help():
    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0 and "--version" in r.output


def test_python_m_real3d_runs_the_command():
    r = _python_m("--version")
    assert r.returncode == 0 and r.stdout == f"real3d {real3d.__version__}\n", r.stderr
    r = _python_m("info", "--help")
    assert r.returncode == 0 and "info" in r.stdout


def test_python_m_real3d_reports_errors_like_the_command(tmp_path):
    r = _python_m("info", str(tmp_path / "missing"))
    assert r.returncode == 2 and "real3d: error:" in r.stderr and "missing" in r.stderr


def test_every_training_command_is_registered():
    r = CliRunner().invoke(app, ["train", "--help"])
    assert r.exit_code == 0, r.output
    for name in ("seg", "boxes", "seg3d", "distill3d"):
        assert name in r.output
    r = CliRunner().invoke(app, ["train", "distill3d", "--help"])
    assert r.exit_code == 0 and "--mode" in r.output
