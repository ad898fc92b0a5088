"""``jarvis memory``: read the memory directory from the command line, also while the hub runs.

    jarvis memory tail [-n 20] [-f] [--type T] [--node N] [--severity S] [--json]
    jarvis memory search WORDS... [--since 30d] [--table T] [-n 50] [--json]
    jarvis memory show ID            an action's audit entry (call id or record id), or any record
    jarvis memory export [--since 7d] [--until ISO] [--table T] [-o FILE]     JSON lines
    jarvis memory stats

The directory is ``--dir``, else ``plugins.memory.path`` of the config file, else the default
(``$JARVIS_DATA_DIR/memory`` or ``~/.local/share/jarvis/memory``). It is opened read-only: no
lock is taken and no file changes, so a running hub keeps writing (the reader sees what the hub
had committed, at most ``commit_interval_s`` behind).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from jarvis.plugins.memory import MemoryDB

# The store's tables (jarvis.plugins.memory.search.ALL_TABLES), here so `jarvis --help` imports no store.
ALL_TABLES = ("events", "actions", "conversations", "snapshots", "memories", "preferences")
SEARCH_DEFAULT = ("events", "actions", "conversations", "memories", "preferences")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_parser(sub: Any) -> None:
    """Add ``jarvis memory`` and its subcommands."""
    memory = sub.add_parser("memory", help="read memory: tail events, search, show an audit entry, export")
    memory.add_argument("-c", "--config", default="config.yaml", help="config.yaml naming plugins.memory.path")
    memory.add_argument("--dir", help="the memory directory (overrides the config)")
    what = memory.add_subparsers(dest="memory_command", required=True)
    tail = what.add_parser("tail", help="the latest events; -f follows new ones")
    tail.add_argument("-n", type=int, default=20, help="how many (default: %(default)s)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    tail.add_argument("--type", help="only this type (alert, action, status...)")
    tail.add_argument("--node", help="only this node")
    tail.add_argument("--severity", help="only this severity")
    tail.add_argument("--json", action="store_true", help="print JSON lines")
    search = what.add_parser("search", help="records containing every word, newest first")
    search.add_argument("words", nargs="+")
    search.add_argument("--since", default="30d", help="how far back: 2h, 7d, an ISO time (default: %(default)s)")
    search.add_argument("--table", action="append", choices=ALL_TABLES, help="where to look (repeatable)")
    search.add_argument("-n", type=int, default=50, help="at most this many")
    search.add_argument("--json", action="store_true", help="print JSON lines")
    show = what.add_parser("show", help="one action's audit entry (by call id) or any record (by id)")
    show.add_argument("id")
    export = what.add_parser("export", help="a time range as JSON lines")
    export.add_argument("--since", help="from: 2h, 7d, an ISO time (default: the beginning)")
    export.add_argument("--until", help="to: an ISO time (default: now)")
    export.add_argument("--table", action="append", choices=ALL_TABLES, help="tables (repeatable; default: all)")
    export.add_argument("-o", "--output", help="write to this file instead of stdout")
    what.add_parser("stats", help="records and segments per table")


def parse_time(value: str | None) -> Any:
    """Turn ``2h``/``7d``/``30m`` into a timedelta; anything else is an ISO time for the store."""
    if value is None:
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    return value


def memory_dir(ns: argparse.Namespace, explicit_config: bool) -> Path:
    """Return the directory to read: --dir, the config's plugins.memory.path, or the default."""
    from jarvis.core.config import load_config
    from jarvis.plugins.memory.config import MemoryConfig, default_path

    if ns.dir:
        return Path(ns.dir).expanduser()
    config_path = Path(ns.config)
    if config_path.exists() or explicit_config:
        config = load_config(config_path, secrets=False)
        block = {k: v for k, v in config.plugin_block("memory").items() if k != "enabled"}
        return MemoryConfig.model_validate(block).directory()
    return default_path()


def run(ns: argparse.Namespace, explicit_config: bool, out: TextIO = sys.stdout) -> int:
    """Run one ``jarvis memory`` subcommand; return the exit status."""
    from jarvis.core.config import ConfigError
    from jarvis.plugins.memory import MemoryDB

    try:
        path = memory_dir(ns, explicit_config)
    except ConfigError:
        raise
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        print(f"plugins.memory in {ns.config}: {error}", file=sys.stderr)
        return 2
    try:
        db = MemoryDB(path, readonly=True)
    except FileNotFoundError:
        print(f"jarvis memory: no memory at {path} (the hub has not run with it yet; pass --dir or -c)",
              file=sys.stderr)
        return 1
    try:
        command = ns.memory_command
        if command == "tail":
            return _tail(db, ns, out)
        if command == "search":
            found = db.search(" ".join(ns.words), tables=ns.table or SEARCH_DEFAULT,
                              since=parse_time(ns.since), limit=ns.n)
            for record in reversed(found):
                print(_json(record) if ns.json else _row(record), file=out)
            return 0 if found else 1
        if command == "show":
            return _show(db, ns.id, out)
        if command == "export":
            return _export(db, ns, out)
        print(json.dumps(db.stats(), indent=2), file=out)
        return 0
    finally:
        db.close()


def _json(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str)


def _row(record: dict[str, Any]) -> str:
    """One line per record: time, table, then the fields a person scans for."""
    table = record.get("table", "events")
    if table == "actions":
        who = record.get("requested_by") or record.get("source")
        text = f"{record.get('tool')} {_args(record.get('args'))} by {who}: {record.get('status')}"
        if record.get("error"):
            text += f" ({record['error']})"
        text += f"  [call {record.get('call_id')}]"
    elif table == "conversations":
        text = f"{record.get('session')} {record.get('role')}: {record.get('content')}"
    elif table == "memories":
        text = f"{record.get('text')} ({record.get('tier')}, id {record.get('id')})"
    elif table == "preferences":
        text = f"{record.get('key')} = {record.get('value')}"
    else:
        where = "/".join(str(record[k]) for k in ("node", "vmid") if record.get(k) not in (None, ""))
        resolved = "  (resolved)" if record.get("resolved") else ""
        text = (f"{record.get('severity', ''):<8} {record.get('type', ''):<12} {record.get('source', ''):<10} "
                f"{where:<12} {record.get('summary', '')}{resolved}")
    return f"{record.get('ts', '')}  {table:<13} {text}"


def _args(args: Any) -> str:
    if not isinstance(args, dict):
        return ""
    return " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in args.items())


def _tail(db: MemoryDB, ns: argparse.Namespace, out: TextIO) -> int:
    filters = {"type": ns.type, "node": ns.node, "severity": ns.severity}
    events = db.events.recent(limit=ns.n, **filters)
    for event in reversed(events):
        print(_json(event) if ns.json else _row(event), file=out, flush=True)
    if not ns.follow:
        return 0
    last = events[0]["id"] if events else db._tables["events"].last_id()
    try:
        while True:
            time.sleep(0.5)
            for event in new_events(db.path / "events", last):
                last = event["id"]
                if all(v is None or event.get(k) == v for k, v in filters.items()):
                    print(_json(event) if ns.json else _row(event), file=out, flush=True)
    except KeyboardInterrupt:
        return 0


def new_events(directory: Path, after: str) -> list[dict[str, Any]]:
    """Return the events committed after record ``after``, oldest first, from the newest segment files.

    Read straight from the files the hub writes atomically (no store is opened), so following costs
    one read of the newest segment or two per call.
    """
    import orjson
    from jarvis.plugins.memory.segment import SEGMENT_RE
    from jarvis.plugins.memory.storage import read_bytes

    period = time.strftime("%Y-%m-%dT%H", time.gmtime(int(after[:11], 16) / 1000)) if after else ""
    files = []
    for entry in directory.iterdir() if directory.is_dir() else ():
        match = SEGMENT_RE.fullmatch(entry.name)
        if match and match[1] >= period:
            files.append(((match[1], int(match[2])), entry))
    found: list[dict[str, Any]] = []
    for _, path in sorted(files):
        raw = read_bytes(path)
        try:
            docs = orjson.loads(raw or b"{}").get("events", {})
        except orjson.JSONDecodeError:
            continue
        found.extend(rec for rec in docs.values() if rec.get("id", "") > after)
    found.sort(key=lambda rec: rec["id"])
    return found


def _show(db: MemoryDB, ident: str, out: TextIO) -> int:
    record = db.actions.by_call(ident)
    table = "actions"
    if record is None and len(ident) == 16:
        for table in ("actions", "events", "conversations", "snapshots"):
            record = getattr(db, table).get(ident)
            if record is not None:
                break
    if record is None:
        found = db.search(ident, tables=("events",), limit=1)
        record, table = (found[0], "events") if found else (None, "")
    if record is None:
        print(f"jarvis memory: no action with call id {ident!r} and no record {ident!r}", file=sys.stderr)
        return 1
    record.pop("table", None)
    print(json.dumps({"table": table, **record}, indent=2, default=str), file=out)
    related = [e for e in db.search(record.get("call_id") or ident, tables=("events",), limit=20)
               if e.get("id") != record.get("id")]
    if related:
        print("\nrelated events:", file=out)
        for event in reversed(related):
            print("  " + _row(event), file=out)
    return 0


def _export(db: MemoryDB, ns: argparse.Namespace, out: TextIO) -> int:
    tables = tuple(ns.table) if ns.table else ALL_TABLES
    lines = db.export(since=parse_time(ns.since), until=parse_time(ns.until), tables=tables)
    if ns.output:
        count = 0
        with open(ns.output, "wb") as handle:
            for line in lines:
                handle.write(line)
                count += 1
        print(f"{count} records written to {ns.output}", file=sys.stderr)
        return 0
    for line in lines:
        out.write(line.decode())
    out.flush()
    return 0
