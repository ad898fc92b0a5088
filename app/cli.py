"""The ``jarvis`` command: run, demo, sim, check-config, tools, schema, call, memory, passwd, broker-users."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from jarvis.core import __version__
from jarvis.core.config import Config, ConfigError, load_config, parse_config

EXIT_CONFIG = 2


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="config.yaml", help="path of config.yaml (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="jarvis", description="An MQTT operations hub for Proxmox homelabs.")
    parser.add_argument("--version", action="version", version=f"jarvis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the hub with a config file")
    _config_arg(run)

    demo = sub.add_parser("demo", help="run everything locally: broker, simulated cluster, hub, dashboard")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="MQTT TCP port (0 = free port)")
    demo.add_argument("--ws-port", type=int, default=9001, help="MQTT websockets port (0 = free port)")
    demo.add_argument("--http-port", type=int, default=8080, help="dashboard port (0 = free port)")
    demo.add_argument("--nodes", type=int, default=4, help="simulated nodes")
    demo.add_argument("--guests", type=int, default=12, help="simulated guests")
    demo.add_argument("--seed", type=int, default=None, help="make the simulated cluster repeatable")
    demo.add_argument("--base-topic", default="jarvis")
    demo.add_argument("--memory-dir", default=None,
                      help="where the demo keeps its memory (default: <data dir>/demo/memory, kept between runs)")

    check = sub.add_parser("check-config", help="validate config.yaml without starting anything")
    _config_arg(check)

    tools = sub.add_parser("tools", help="list registered tools with their risk tier")
    _config_arg(tools)
    tools.add_argument("--json", action="store_true", help="print JSON (with argument schemas)")

    schema = sub.add_parser("schema", help="print every entity kind the enabled plugins publish (bridge/schema)")
    _config_arg(schema)
    schema.add_argument("--markdown", action="store_true", help="print the documentation tables instead of JSON")

    call = sub.add_parser("call", help="run one tool through the pipeline and print the JSON reply")
    _config_arg(call)
    call.add_argument("tool", help="tool name, e.g. proxmox.guest_list")
    call.add_argument("args", nargs="*", metavar="key=value", help="arguments; values are JSON when they parse")
    call.add_argument("--confirm", action="store_true", help="confirm a dangerous call explicitly")

    from jarvis.app.memory_cli import add_parser as add_memory_parser

    add_memory_parser(sub)

    sim = sub.add_parser("sim", help="run the Proxmox VE API simulator", add_help=False)
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)

    users = sub.add_parser("broker-users", help="create the broker accounts hub, dashboard, homeassistant; "
                           "rewrite the ACL from the users file")
    _config_arg(users)
    _account_files(users)
    users.add_argument("--regenerate", action="store_true", help="new passwords for existing service accounts")
    users.add_argument("--list", action="store_true", help="list the users and their roles")

    pw = sub.add_parser("passwd", help="add a user or change its role and password (broker account and "
                        "dashboard login together)")
    _config_arg(pw)
    pw.add_argument("user", help="user name ([a-z][a-z0-9_-]*)")
    pw.add_argument("--role", help="viewer, operator, admin, homeassistant or a role of auth.roles")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin (scripts)")
    pw.add_argument("--delete", action="store_true", help="remove the user")
    _account_files(pw)
    return parser


def _account_files(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users-file", help="users file (default: auth.users_file)")
    parser.add_argument("--passwd-file", help="mosquitto password file (default: auth.broker_passwd_file)")
    parser.add_argument("--acl-file", help="mosquitto ACL file (default: auth.broker_acl_file)")


def parse_kv(items: list[str]) -> dict[str, Any]:
    """Turn ``key=value`` words into a dict; values are JSON when they parse, else strings."""
    args: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"argument {item!r} is not key=value")
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw
    return args


def _explicit_config(argv: list[str]) -> bool:
    """Whether the command line names a config file (else a missing config.yaml means the defaults)."""
    return any(a in ("-c", "--config") or a.startswith("--config=") for a in argv)


def _load(path: str, *, secrets: bool = True) -> Config:
    return load_config(Path(path), secrets=secrets)


def _load_for_listing(path: str, explicit: bool) -> Config:
    """The config for describing what could run: secrets unread; no file means the defaults."""
    if not explicit and not Path(path).exists():
        return parse_config({})
    return _load(path, secrets=False)


async def _with_hub(config: Config, action: Any) -> Any:
    from jarvis.core.hub import Hub

    hub = Hub(config)
    await hub.start(run_sources=False)
    try:
        return await action(hub)
    finally:
        await hub.stop()


def _cmd_tools(config: Config, as_json: bool) -> int:
    async def listing(hub: Any) -> list[dict[str, Any]]:
        registry = hub.pipeline.registry
        return [registry.describe(name) for name in sorted(registry.tools)]

    tools = asyncio.run(_with_hub(config, listing))
    if as_json:
        print(json.dumps(tools, indent=2))
        return 0
    width = max((len(t["name"]) for t in tools), default=10)
    for tool in tools:
        print(f"{tool['name']:<{width}}  {tool['risk']:<9}  {tool['description'].splitlines()[0]}")
    return 0


def _cmd_schema(config: Config, markdown: bool) -> int:
    from jarvis.core.entities import markdown_table

    async def describe(hub: Any) -> Any:
        if markdown:
            return "\n".join(markdown_table(kind) for kind in hub.registrations.kinds.items.values())
        return json.dumps(hub.schema(), indent=2)

    print(asyncio.run(_with_hub(config, describe)))
    return 0


def _cmd_call(config: Config, tool: str, args: dict[str, Any], confirm: bool) -> int:
    async def calling(hub: Any) -> dict[str, Any]:
        await hub.refresh()
        return await hub.call_tool(tool, args, source="cli", confirmed=confirm)

    reply = asyncio.run(_with_hub(config, calling))
    print(json.dumps(reply, indent=2, default=str))
    if reply["status"] == "confirmation_required":
        print("dangerous: re-run with --confirm to go ahead", file=sys.stderr)
    return 0 if reply["status"] == "ok" else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jarvis`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:
        # The simulator has its own parser (serve, fault, stats); hand it everything.
        from jarvis.plugins.proxmox.sim.cli import main as sim_main

        return sim_main(argv[1:])
    parser = build_parser()
    ns = parser.parse_args(argv)
    # Each command imports what it needs when it runs: `jarvis check-config` need not load the
    # MQTT client, and the demo starts its broker before the slow imports.
    from jarvis.core.runner import setup_logging

    try:
        if ns.command == "demo":
            setup_logging("INFO")
            from jarvis.app.demo import run_demo

            return asyncio.run(run_demo(ns))
        if ns.command == "memory":
            from jarvis.app.memory_cli import run as run_memory

            return run_memory(ns, _explicit_config(argv))
        if ns.command in ("broker-users", "passwd"):
            from jarvis.app import users

            setup_logging("WARNING")
            config = _load_for_listing(ns.config, _explicit_config(argv))
            return users.broker_users(config, ns) if ns.command == "broker-users" else users.passwd(config, ns)
        if ns.command in ("tools", "schema"):
            config = _load_for_listing(ns.config, _explicit_config(argv))
            setup_logging("WARNING")
            return _cmd_tools(config, ns.json) if ns.command == "tools" else _cmd_schema(config, ns.markdown)
        config = _load(ns.config)
        if ns.command == "check-config":
            from jarvis.core.hub import Hub

            hub = Hub(config)
            hub.validate_config()
            if hub.auth.problems():
                raise ConfigError(hub.auth.problems())
            print(f"{ns.config}: OK")
            return 0
        setup_logging(config.hub.log_level)
        if ns.command == "run":
            from jarvis.app.runner import run_forever

            return asyncio.run(run_forever(config))
        if ns.command == "call":
            try:
                args = parse_kv(ns.args)
            except ValueError as error:
                parser.error(str(error))
            return _cmd_call(config, ns.tool, args, ns.confirm)
    except ConfigError as error:
        print(f"configuration error in {getattr(ns, 'config', 'config')}:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {ns.command}")
    return EXIT_CONFIG
