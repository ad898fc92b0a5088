"""Start an MQTT broker for `jarvis demo` and the tests: our own mosquitto (amqtt in-process as
the fallback lives in ``embedded.py``).

Stdlib only, so the CLI can use it without pulling in the MQTT client stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from jarvis.mqtt.embedded import EmbeddedBroker

log = logging.getLogger(__name__)

ROLES = ("hub", "dashboard", "homeassistant")
"""The broker roles of the MQTT contract; each is also the username in mosquitto/acl."""

Mode = Literal["secure", "demo"]

# Everything above this line of mosquitto/mosquitto.conf is global settings we reuse.
_LISTENERS_MARKER = "# --- listeners"
# Production directives bound to the container's paths; the launcher supplies its own.
_PATH_DIRECTIVES = frozenset(
    {"password_file", "acl_file", "persistence", "persistence_location", "persistence_file",
     "autosave_interval", "log_dest", "pid_file", "user", "include_dir", "plugin", "plugin_opt_config_file"}
)

# Used when the mosquitto/ folder is not found (an installed wheel without the files).
_EMBEDDED_DEMO_TEMPLATE = """\
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
max_packet_size 1048576
set_tcp_nodelay true
listener ${MQTT_PORT} 127.0.0.1
protocol mqtt
listener ${WS_PORT} lo
protocol websockets
"""


TEST_ROOTS = ("cluster", "node", "guest", "storage", "docker", "host", "probe")
"""Topic roots per-user accounts of a launched broker may read (the in-tree kinds and the tests')."""


class BrokerError(RuntimeError):
    """The broker could not be configured or did not come up."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def mosquitto_dir() -> Path | None:
    """Return the project's mosquitto/ folder (source checkout or package data), if present."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "mosquitto", here / "mosquitto"):
        if (candidate / "mosquitto.conf").is_file():
            return candidate
    return None


def find_binary(name: str) -> str | None:
    """Locate a mosquitto binary, also in sbin directories a non-root PATH may lack."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"):
        path = Path(folder) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def render_acl(text: str, base_topic: str) -> str:
    """Rewrite the shipped ACL (written for base topic `jarvis`) for another base topic."""
    if base_topic == "jarvis":
        return text
    if not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", base_topic):
        raise BrokerError(f"invalid base topic {base_topic!r}")
    return re.sub(r"(?m)^(\s*(?:topic|pattern)\s+(?:\w+\s+)?)jarvis/", rf"\g<1>{base_topic}/", text)


def production_globals(conf_text: str) -> str:
    """Return the global settings of the production config, minus its path-bound lines."""
    head = conf_text.split(_LISTENERS_MARKER, 1)[0]
    kept = []
    for line in head.splitlines():
        words = line.split()
        if words and not words[0].startswith("#") and words[0] not in _PATH_DIRECTIVES:
            kept.append(line.strip())
    return "\n".join(kept) + "\n"


class MosquittoProcess:
    """A mosquitto subprocess on loopback with its own config directory; the broker handle."""

    def __init__(
        self,
        *,
        mode: Mode = "secure",
        mqtt_port: int = 0,
        ws_port: int = 0,
        workdir: Path | str | None = None,
        users: dict[str, str] | None = None,
        acl: bool | None = None,
        base_topic: str = "jarvis",
        persistence: bool = False,
        password_file: Path | str | None = None,
        accounts: dict[str, tuple[str, str]] | None = None,
        dynsec: bool | None = None,
    ) -> None:
        binary = find_binary("mosquitto")
        if binary is None:
            raise BrokerError("mosquitto is not installed (apt-get install -y mosquitto)")
        self.binary = binary
        self.mode: Mode = mode
        self.host = "127.0.0.1"
        self._auto_ports = mqtt_port == 0 or ws_port == 0
        self.port = mqtt_port or find_free_port()
        self.ws_port = ws_port or find_free_port()
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="jarvis-mosquitto-")).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.acl = mode == "secure" if acl is None else acl
        self.base_topic = base_topic
        self.persistence = persistence
        if users is None and mode == "secure" and password_file is None:
            users = {role: secrets.token_urlsafe(18) for role in ROLES}
        self.users: dict[str, tuple[str, str]] = {
            name: (name, password) for name, password in (users or {}).items()
        }
        # Per-user accounts with a role (user -> (role, password)): a users file for the hub and
        # their generated ACL blocks, as `jarvis passwd` writes them.
        self.accounts = dict(accounts or {})
        self.users.update({name: (name, password) for name, (_role, password) in self.accounts.items()})
        self.users_file = self.workdir / "users.yaml"
        from jarvis.mqtt.accounts import find_dynsec_plugin

        plugin = find_dynsec_plugin() if (dynsec is None and mode == "secure") or dynsec else None
        if dynsec and plugin is None:
            raise BrokerError("mosquitto's dynamic-security plugin is not installed")
        self.dynsec_plugin = plugin
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_static_files(Path(password_file) if password_file else None)

    # -- configuration --------------------------------------------------------------

    def _write_static_files(self, password_file: Path | None) -> None:
        from jarvis.mqtt import accounts  # the users' part of the ACL and their password hashes

        folder = mosquitto_dir()
        if self.acl:
            if folder is None:
                raise BrokerError("mosquitto/acl not found: the ACL ships with the source tree")
            self.write_acl()
        pwfile = self.workdir / "passwd"
        if password_file is not None:
            shutil.copyfile(password_file, pwfile)
        elif self.users:
            accounts.write_passwd(pwfile, {name: accounts.mosquitto_hash(password, 101)
                                           for name, password in self.users.values()})
        if self.persistence:
            (self.workdir / "data").mkdir(exist_ok=True)
        if self.dynsec_plugin:
            accounts.seed_dynsec(self.workdir / "dynamic-security.json")

    def write_acl(self, read_roots: tuple[str, ...] = TEST_ROOTS) -> None:
        """Write the ACL (and the users file) from the shipped template and this broker's accounts."""
        from jarvis.core.auth import BUILTIN_ROLES
        from jarvis.core.users import UserRecord, write_users
        from jarvis.mqtt import accounts

        folder = mosquitto_dir()
        assert folder is not None
        roles = {name: role for name, (role, _password) in self.accounts.items()}
        text = accounts.render_acl((folder / "acl").read_text(), roles, BUILTIN_ROLES, self.base_topic, read_roots)
        (self.workdir / "acl").write_text(text)
        write_users(self.users_file, {name: UserRecord(name, role) for name, role in roles.items()})

    def render_config(self) -> str:
        """Return the mosquitto.conf text for the current mode and ports."""
        folder = mosquitto_dir()
        if self.mode == "demo":
            path = folder / "demo.conf" if folder else None
            template = path.read_text() if path else _EMBEDDED_DEMO_TEMPLATE
            text = Template(template).substitute(MQTT_PORT=self.port, WS_PORT=self.ws_port)
            extra = []
        else:
            if folder is None:
                raise BrokerError("mosquitto/mosquitto.conf not found for secure mode")
            text = production_globals((folder / "mosquitto.conf").read_text())
            bind = ["use_username_as_clientid true"]
            extra = [
                "log_dest stderr",
                f"listener {self.port} {self.host}",
                "protocol mqtt",
                *bind,
                # mosquitto 2.0 ignores an IP on websockets listeners; `lo` keeps it local.
                f"listener {self.ws_port} lo",
                "protocol websockets",
                *bind,
            ]
        head = [f"# written by jarvis.mqtt.broker ({self.mode} mode)"]
        if (self.workdir / "passwd").exists():
            head.append(f"password_file {self.workdir / 'passwd'}")
        if self.acl:
            head.append(f"acl_file {self.workdir / 'acl'}")
        if self.dynsec_plugin:
            head += [f"plugin {self.dynsec_plugin}",
                     f"plugin_opt_config_file {self.workdir / 'dynamic-security.json'}"]
        if self.persistence:
            head += ["persistence true", f"persistence_location {self.workdir / 'data'}/"]
        elif self.mode == "secure":
            head.append("persistence false")
        # Global options must precede the first listener, so ours go first.
        return "\n".join(head) + "\n" + text + "\n".join(extra) + "\n"

    def _prepare_workdir(self) -> None:
        self.config_path.write_text(self.render_config())
        if os.geteuid() != 0:
            return
        # Run as root, mosquitto drops to the `mosquitto` user before it reads the password
        # and ACL files and writes persistence, so that user must own the directory.
        with contextlib.suppress(KeyError, LookupError):
            for path in [self.workdir, *self.workdir.rglob("*")]:
                shutil.chown(path, "mosquitto", "mosquitto")

    # -- lifecycle ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the mosquitto process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the running broker, if any."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> MosquittoProcess:
        """Start mosquitto and wait until both listeners accept connections."""
        for attempt in range(3):
            self._prepare_workdir()
            self._spawn()
            try:
                self._wait_ready(timeout)
                return self
            except BrokerError:
                in_use = "Address already in use" in self.log_text()
                self.kill()
                if not (in_use and self._auto_ports and attempt < 2):
                    raise
                log.info("broker port taken, retrying on new ports")
                self.port, self.ws_port = find_free_port(), find_free_port()
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log_file:
            self._proc = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C in the terminal reaches only us, and we stop
                # the broker last, after the hub has said goodbye on it.
                start_new_session=True,
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = [self.port, self.ws_port]
        while pending:
            if self._proc is None or self._proc.poll() is not None:
                raise BrokerError(f"mosquitto exited during start-up:\n{self.log_tail()}{self._hint()}")
            try:
                with socket.create_connection((self.host, pending[0]), timeout=0.5):
                    pending.pop(0)
                    continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BrokerError(f"mosquitto not listening after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.02)

    def _hint(self) -> str:
        if os.geteuid() == 0 and "Unable to open" in self.log_text():
            return (
                "\n(mosquitto reads these files as the `mosquitto` user: every parent of "
                f"{self.workdir} must be searchable by it; /tmp/pytest-of-root is not)"
            )
        return ""

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate mosquitto gracefully (it saves persistence) and wait for it to exit."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        self._proc = None

    def kill(self) -> None:
        """Kill mosquitto with SIGKILL (a crash: no Last Will is withheld, nothing is saved)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(10)
        self._proc = None

    def reload(self) -> None:
        """Make mosquitto re-read its password file and ACL (SIGHUP), as after `jarvis passwd`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGHUP)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop (if running) and start again on the same ports."""
        self.stop()
        self._auto_ports = False  # clients already know these ports
        self.start(timeout)

    async def arestart(self) -> None:
        """Restart without blocking the event loop."""
        await asyncio.to_thread(self.restart)

    def close(self) -> None:
        """Stop mosquitto and delete the config directory if the launcher created it."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def aclose(self) -> None:
        """Async version of close()."""
        await asyncio.to_thread(self.close)

    def log_text(self) -> str:
        """Return mosquitto's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of mosquitto's log, for error messages."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> MosquittoProcess:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MosquittoProcess {self.mode} {self.host}:{self.port} ws:{self.ws_port}>"


async def start_mosquitto(
    *,
    mode: Mode = "secure",
    mqtt_port: int = 0,
    ws_port: int = 0,
    workdir: Path | str | None = None,
    users: dict[str, str] | None = None,
    acl: bool | None = None,
    base_topic: str = "jarvis",
    persistence: bool = False,
) -> MosquittoProcess:
    """Start mosquitto from the project's config ("secure": passwords + ACL; "demo")."""

    def launch() -> MosquittoProcess:
        return MosquittoProcess(
            mode=mode, mqtt_port=mqtt_port, ws_port=ws_port, workdir=workdir, users=users,
            acl=acl, base_topic=base_topic, persistence=persistence,
        ).start()

    return await asyncio.to_thread(launch)


async def start_demo_broker(mqtt_port: int = 0, ws_port: int = 0) -> MosquittoProcess | EmbeddedBroker:
    """Start the throw-away demo broker: mosquitto if installed, else embedded amqtt."""
    if find_binary("mosquitto") is not None:
        return await start_mosquitto(mode="demo", mqtt_port=mqtt_port, ws_port=ws_port)
    from jarvis.mqtt.embedded import start_embedded_broker

    return await start_embedded_broker(mqtt_port, ws_port)
