"""Shared fixtures: each area keeps its own in tests/fixtures/ (registered here as plugins)."""

import os

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
