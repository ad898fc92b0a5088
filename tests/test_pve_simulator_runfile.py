"""A serving simulator leaves a run file, so `jarvis sim fault ...` finds it without flags.

The file holds what a client needs (URL, token, CA file, SSH details) with mode 0600, is
replaced atomically, and disappears when the simulator stops; flags and JARVIS_SIM_URL/TOKEN
still win over it, and no live simulator gives one clear error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jarvis.plugins.proxmox.sim import cli, runfile
from jarvis.plugins.ssh.config import SshConfig

from tests.fixtures.sim import SimProcess, spawn_simulator

JARVIS = str(Path(sys.executable).with_name("jarvis"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimProcess, Path]]:
    """A simulator that wrote its run file to a private path."""
    path = tmp_path_factory.mktemp("run") / "sim.json"
    sim = spawn_simulator(run_file=path, ssh=True)
    yield sim, path
    sim.stop()


@pytest.fixture
def discover(served: tuple[SimProcess, Path], monkeypatch: pytest.MonkeyPatch) -> SimProcess:
    """The environment of a shell where only the run file says where the simulator is."""
    sim, path = served
    monkeypatch.setenv(runfile.ENV, str(path))
    monkeypatch.delenv("JARVIS_SIM_URL", raising=False)
    monkeypatch.delenv("JARVIS_SIM_TOKEN", raising=False)
    yield sim
    sim.admin("DELETE", "/faults")


def test_the_run_file_says_how_to_reach_the_simulator(served: tuple[SimProcess, Path]) -> None:
    sim, path = served
    data = json.loads(path.read_text())
    assert path.stat().st_mode & 0o777 == 0o600
    assert data["pid"] == sim.proc.pid and data["url"] == sim.url
    assert (data["token_id"], data["token_secret"], data["ca_file"]) == (sim.token_id, sim.token_secret, sim.ca_file)
    assert data["ssh"] == sim.ssh and sim.run_file == str(path)
    assert [p.name for p in path.parent.iterdir()] == ["sim.json"]  # no temporary file left


def test_stopping_removes_the_run_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    sim = spawn_simulator(run_file=path)
    assert runfile.read(path) is not None
    sim.stop()
    assert not path.exists()


def test_fault_with_no_flags_reaches_the_simulator(discover: SimProcess, capsys: Any) -> None:
    assert cli.main(["fault", "hot-node", "pve2", "--celsius", "91"]) == 0
    assert cli.main(["fault", "service-stopped", "pve1", "chrony", "--sticky"]) == 0
    faults = discover.admin("GET", "/faults")
    assert [(f["kind"], f["node"]) for f in faults] == [("hot-node", "pve2"), ("service-stopped", "pve1")]
    assert faults[0]["celsius"] == 91 and faults[1]["sticky"] is True
    capsys.readouterr()
    assert cli.main(["state"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"]["pve1"]["services_down"] == ["chrony"]


def test_the_console_script_finds_it_too(discover: SimProcess) -> None:
    done = subprocess.run([JARVIS, "sim", "fault", "guest-crash", "100"], capture_output=True, text=True,
                          timeout=60, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    guest = discover.api("GET", "/nodes/pve1/lxc/100/status/current").json()["data"]
    assert guest["status"] == "stopped"
    discover.api("POST", "/nodes/pve1/lxc/100/status/start")


def test_no_live_simulator_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runfile.ENV, str(tmp_path / "absent.json"))
    monkeypatch.delenv("JARVIS_SIM_URL", raising=False)
    monkeypatch.delenv("JARVIS_SIM_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="no running simulator found") as missing:
        cli.main(["fault", "clear"])
    assert "jarvis demo" in str(missing.value) and "--url/--token" in str(missing.value)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"pid": dead.pid, "url": "https://127.0.0.1:1", "token_id": "x",
                                 "token_secret": "y"}))
    monkeypatch.setenv(runfile.ENV, str(stale))
    with pytest.raises(SystemExit, match="no running simulator found"):
        cli.main(["stats"])


def test_flags_and_environment_win_over_the_run_file(
    served: tuple[SimProcess, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, _ = served
    elsewhere = tmp_path / "sim.json"
    runfile.write(elsewhere, {"url": "https://127.0.0.1:9", "token_id": "root@pam!jarvis", "token_secret": "x"})
    monkeypatch.setenv(runfile.ENV, str(elsewhere))
    monkeypatch.delenv("JARVIS_SIM_URL", raising=False)
    monkeypatch.delenv("JARVIS_SIM_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="cannot reach the simulator at https://127.0.0.1:9"):
        cli.main(["stats"])
    assert cli.main(["stats", "--url", sim.url, "--token", sim.token_secret]) == 0
    monkeypatch.setenv("JARVIS_SIM_URL", sim.url)
    monkeypatch.setenv("JARVIS_SIM_TOKEN", sim.token_secret)
    assert cli.main(["stats"]) == 0


def test_default_path_follows_xdg_runtime_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(runfile.ENV, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert runfile.default_path() == Path("/run/user/1000/jarvis/sim.json")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert runfile.default_path() == tmp_path / ".cache" / "jarvis" / "sim.json"


def test_a_stopping_simulator_leaves_a_newer_ones_run_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    runfile.write(path, {"url": "https://127.0.0.1:1"})
    newer = json.loads(path.read_text()) | {"pid": os.getppid()}
    path.write_text(json.dumps(newer))
    runfile.remove(path)  # we are not its pid
    assert path.exists()


def test_ssh_config_prints_a_block_the_ssh_plugin_accepts(discover: SimProcess, capsys: Any) -> None:
    assert cli.main(["ssh-config"]) == 0
    block = yaml.safe_load(capsys.readouterr().out)["plugins"]["ssh"]
    specs = SshConfig.model_validate(block).host_specs()
    assert {name: (s.host, s.port, s.key_file, s.known_hosts) for name, s in specs.items()} == {
        name: (e["host"], e["port"], e["key_file"], e["known_hosts"]) for name, e in discover.ssh.items()
    }
