"""Shared fixtures: each area keeps its own in tests/fixtures/ (registered here as plugins)."""

import os

import pytest
from jarvis.core.plugins import ENTRY_POINTS_ENV

# Plugins installed in this environment never leak into a test: no hub of the suite loads entry
# points (subprocesses included) unless a test installs a plugin and asks for it (run_jarvis).
os.environ[ENTRY_POINTS_ENV] = "off"

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.hub",
    "tests.fixtures.bridge",
    "tests.fixtures.sim",
    "tests.fixtures.sshd",
    "tests.fixtures.podman",
    "tests.fixtures.llm",
    "tests.fixtures.homeassistant",
]


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data directory: the memory plugin's default path is never the developer's."""
    monkeypatch.setenv("JARVIS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
