"""The code type-checks and lints clean, and mypy checks plugins' hooks against the typed hookspecs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.thirdparty import REPO, VENV_BIN

DATA = Path(__file__).parent / "data" / "typing"


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    """Run mypy with the project's config, `jarvis` resolved through the typecheck tree.

    mypy reports a hook's errors at its ``@hookimpl`` line.
    """
    subprocess.run([str(REPO / ".ci" / "typecheck"), "--version"], check=True, capture_output=True)
    env = {**os.environ, "MYPYPATH": str(REPO / ".mypy_cache" / "tree")}
    return subprocess.run([str(VENV_BIN / "mypy"), "--config-file", str(REPO / "pyproject.toml"), *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False)


def test_mypy_reports_every_hook_implementation_that_breaks_its_spec() -> None:
    result = mypy(str(DATA / "bad_plugin.py"))
    lines = [line for line in result.stdout.splitlines() if "bad_plugin.py" in line]
    text = "\n".join(lines)
    assert result.returncode == 1, result.stdout
    assert re.search(r':8: error: argument "register" of hook "register_tools" is typed .*int.*Tool', text)
    assert re.search(r':13: error: "register_tool" is not a Jarvis hook', text)
    assert re.search(r':18: error: annotate argument "register" of hook "register_sources"', text)
    assert re.search(r':18: error: hook "register_sources" has no argument "extra"', text)
    assert re.search(r':23: error: hook "on_stop" returns int', text)
    assert len(lines) == 5, text


def test_mypy_accepts_hooks_that_match_their_spec() -> None:
    result = mypy(str(DATA / "good_plugin.py"))
    assert result.returncode == 0, result.stdout


@pytest.mark.slow
def test_the_whole_package_type_checks() -> None:
    result = subprocess.run([str(REPO / ".ci" / "typecheck")], capture_output=True, text=True, cwd=REPO,
                            timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([str(VENV_BIN / "ruff"), "check", "."], capture_output=True, text=True, cwd=REPO,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:]
