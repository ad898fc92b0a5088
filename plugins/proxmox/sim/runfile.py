"""The run file: where a serving simulator says how to reach it, so `jarvis sim fault` needs no flags.

Path: `$JARVIS_SIM_RUN_FILE`, else `$XDG_RUNTIME_DIR/jarvis/sim.json`, else
`~/.cache/jarvis/sim.json`. Written atomically (mode 0600: it holds the API token) when the
simulator serves, removed when it stops cleanly; a file whose pid is no longer running is stale
and counts as absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

ENV = "JARVIS_SIM_RUN_FILE"
FORMAT = 1


def default_path() -> Path:
    """Where the run file lives unless a path is given."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_RUNTIME_DIR") or str(Path.home() / ".cache")
    return Path(base) / "jarvis" / "sim.json"


def write(path: Path, details: dict[str, Any]) -> None:
    """Atomically write the details of this (the current) process's simulator."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload = {"format": FORMAT, "pid": os.getpid(), "started": int(time.time()), **details}
    fd, tmp = tempfile.mkstemp(prefix=".sim-", suffix=".json", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(payload, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return True


def read(path: Path) -> dict[str, Any] | None:
    """Return a live simulator's details, or None when there is no file or it is stale."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or not data.get("url"):
        return None
    if not _alive(data["pid"]):
        return None
    return data


def remove(path: Path) -> None:
    """Remove the run file if it is still ours (a newer simulator may have replaced it)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and data.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()
