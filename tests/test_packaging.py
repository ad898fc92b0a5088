"""Packaging: the wheel holds exactly the ``jarvis`` namespace and installs into a clean venv."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from jarvis.core import __version__

from tests.fixtures.thirdparty import REPO, VENV_BIN

# source folder -> import package it becomes (pyproject's package-dir)
PARTS = {"core": "jarvis/core", "mqtt": "jarvis/mqtt", "plugins": "jarvis/plugins", "web": "jarvis/web"}
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "*_cache", "__pycache__", "build", "dist", "*.egg-info", "node_modules", ".hypothesis"
)


def run(*cmd: str | Path, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                            check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build the wheel from a copy of the work tree (the build leaves nothing in the repo)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=COPY_IGNORE, symlinks=True)
    run(VENV_BIN / "python", "-m", "build", "--wheel", "--outdir", root / "dist", source, timeout=300)
    [built] = (root / "dist").glob("jarvis_hub-*.whl")
    yield built


def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return [name for name in archive.namelist() if not name.endswith("/")]


def source_files(suffix: str) -> dict[str, str]:
    """Every source file of the import package (wheel path -> repo path), caches excluded."""
    found = {}
    for folder, package in PARTS.items():
        for path in (REPO / folder).rglob(f"*{suffix}"):
            if "__pycache__" in path.parts or "node_modules" in path.parts:
                continue
            found[f"{package}/{path.relative_to(REPO / folder).as_posix()}"] = str(path.relative_to(REPO))
    return found


@pytest.mark.slow
def test_the_wheel_holds_only_the_jarvis_namespace(wheel: Path) -> None:
    files = wheel_files(wheel)
    outside = [f for f in files if not f.startswith(("jarvis/", "jarvis_hub-"))]
    assert outside == [], "nothing may be installed as a top-level core/, mqtt/, plugins/ or web/ package"
    assert "jarvis/__init__.py" not in files, "jarvis is a namespace package: third parties extend it"
    assert not [f for f in files if f.startswith("jarvis/tests/") or "/__pycache__/" in f]
    dist_info = next(f for f in files if f.endswith(".dist-info/top_level.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(dist_info).decode().split() == ["jarvis"]
        entry_points = archive.read(dist_info.replace("top_level.txt", "entry_points.txt")).decode()
    assert "jarvis = jarvis.app.cli:main" in entry_points


@pytest.mark.slow
def test_every_source_module_is_in_the_wheel(wheel: Path) -> None:
    files = set(wheel_files(wheel))
    missing = {repo: path for path, repo in source_files(".py").items() if path not in files}
    assert missing == {}, (
        "modules missing from the wheel: a sub-package (folder with __init__.py) must be listed "
        "in pyproject.toml [tool.setuptools] packages"
    )


@pytest.mark.slow
def test_the_web_templates_and_typing_marker_are_in_the_wheel(wheel: Path) -> None:
    files = set(wheel_files(wheel))
    templates = {p: r for p, r in source_files(".html").items() if p.startswith("jarvis/web/templates/")}
    assert templates, "the dashboard has templates"
    assert set(templates) <= files
    assert "jarvis/core/py.typed" in files


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_wheel_installs_and_runs_in_a_clean_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, timeout=120)
    run(venv / "bin" / "pip", "install", "--quiet", wheel, timeout=840)
    python = venv / "bin" / "python"
    imported = run(python, "-c", "import jarvis.core, jarvis.mqtt.bridge, jarvis.plugins.proxmox, jarvis.web; "
                                 "print(jarvis.core.__version__); print(jarvis.core.__file__)", cwd=tmp_path)
    version, location = imported.stdout.split()
    assert version == __version__
    assert Path(location).is_relative_to(venv), "imported from the venv, not from the work tree"
    assert run(venv / "bin" / "jarvis", "--version", cwd=tmp_path).stdout.strip() == f"jarvis {__version__}"
    [site] = (venv / "lib").glob("python3*/site-packages")
    assert not [name for name in ("core", "mqtt", "plugins", "web") if (site / name).exists()]
    templates = site / "jarvis" / "web" / "templates"
    expected = sorted(p.name for p in (REPO / "web" / "templates").glob("*.html"))
    assert sorted(p.name for p in templates.glob("*.html")) == expected


def test_the_dev_venv_imports_jarvis_from_the_work_tree(tmp_path: Path) -> None:
    """``pip install -e .`` maps each jarvis part onto its folder in the repo."""
    code = (
        "import json, jarvis.core, jarvis.mqtt, jarvis.plugins, jarvis.web, importlib.metadata as m; "
        "print(json.dumps({'core': jarvis.core.__file__, 'mqtt': jarvis.mqtt.__file__, "
        "'plugins': jarvis.plugins.__file__, 'web': jarvis.web.__file__, "
        "'direct_url': json.loads(m.distribution('jarvis-hub').read_text('direct_url.json'))}))"
    )
    found = json.loads(run(VENV_BIN / "python", "-c", code, cwd=tmp_path).stdout)
    for part in PARTS:
        assert Path(found[part]) == REPO / part / "__init__.py"
    assert found["direct_url"]["dir_info"].get("editable") is True
