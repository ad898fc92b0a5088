"""Shared fixtures: each area keeps its own in tests/fixtures/ (registered here as plugins)."""

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.hub",
    "tests.fixtures.bridge",
    "tests.fixtures.sim",
    "tests.fixtures.sshd",
    "tests.fixtures.podman",
    "tests.fixtures.homeassistant",
]
