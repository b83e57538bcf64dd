"""`pip install .` (not editable) ships the grammar and the stdlib inside the package."""
from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(out), str(ROOT)], check=True)
    return next(out.glob("collab-*.whl"))


def test_wheel_contains_grammar_and_stdlib(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "collabdsl/_grammar/collab.lark" in names
    stdlib = [n for n in names if n.startswith("collabdsl/_stdlib/") and n.endswith(".collab")]
    assert {Path(n).name for n in stdlib} >= {"qa.collab", "judge.collab"}
    assert any(n.startswith("runtime/datasets/") and n.endswith(".jsonl") for n in names)


@pytest.mark.slow
def test_installed_package_lints_outside_the_checkout(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # a plain install: the wheel and its light dependencies (lark, networkx, typer, rich)
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "programs" / "dkt.collab", work / "dkt.collab")  # imports stdlib.qa
    r = subprocess.run([str(py), "-c", "import collabdsl.resources as r; print(r.grammar_path())"],
                       cwd=work, capture_output=True, text=True, check=True)
    assert str(env_dir) in r.stdout and "_grammar" in r.stdout
    r = subprocess.run([str(env_dir / "bin" / "collab"), "lint", "dkt.collab"], cwd=work,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
