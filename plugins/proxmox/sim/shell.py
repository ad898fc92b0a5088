"""A node's shell without a shell: parse a command line like bash would, answer like the tools.

The SSH plugin sends `env NAME=VALUE timeout -k 2 -- 30 prog 'arg'...`, every argument quoted
with shlex.quote; `split_line` undoes exactly that quoting (single and double quotes,
backslashes) and honours `;`, `&&` and `||` outside quotes. Nothing is ever run on this
machine: each program is a Python function answering from the simulator state. A command that
would take time (`sleep`) reports how long in `Result.delay`; the SSH session waits that long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from . import shell_pve
from .model import KERNEL_RELEASE, KERNEL_VERSION, Guest
from .shellenv import Result, ShellSyntaxError, Where

OPERATORS = (";", "&&", "||", "|", "&", "<", ">", "(", ")")
NODE_OS = """PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.1
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""
CT_OS = NODE_OS.replace("13 (trixie)", "12 (bookworm)").replace("trixie", "bookworm").replace(
    '"13"', '"12"').replace("13.1", "12.12")
UBUNTU_OS = """PRETTY_NAME="Ubuntu 24.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.3 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=noble
"""


def split_line(line: str) -> list[str | tuple[str]]:
    """Split a command line into words and operators (operators come as 1-tuples)."""
    words: list[str | tuple[str]] = []
    word: list[str] = []
    in_word = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch in " \t\n":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif ch == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unexpected EOF while looking for matching `''")
            word.append(line[i + 1:end])
            in_word, i = True, end
        elif ch == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in '"\\$`':
                    i += 1
                word.append(line[i])
                i += 1
            if i >= len(line):
                raise ShellSyntaxError('unexpected EOF while looking for matching `"\'')
            in_word = True
        elif ch == "\\":
            if i + 1 >= len(line):
                raise ShellSyntaxError("syntax error: unexpected end of file")
            word.append(line[i + 1])
            in_word, i = True, i + 1
        elif ch in ";&|<>()":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            op = line[i:i + 2] if line[i:i + 2] in ("&&", "||") else ch
            words.append((op,))
            i += len(op) - 1
        else:
            word.append(ch)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(word))
    return words


def run_line(where: Where, line: str, via: str = "bash") -> Result:
    """Run a command line: simple commands joined by `;`, `&&` or `||`."""
    try:
        tokens = split_line(line)
    except ShellSyntaxError as exc:
        return Result(err=f"bash: {exc}\n", status=2)
    total = Result()
    argv: list[str] = []
    skip = False
    for token in [*tokens, (";",)]:
        if isinstance(token, str):
            argv.append(token)
            continue
        op = token[0]
        if op not in (";", "&&", "||"):
            return _add(total, Result(err=f"bash: the simulated shell does not support '{op}'\n", status=2))
        if not argv:
            if op != ";" or total.status == 2:
                return _add(total, Result(err=f"bash: syntax error near unexpected token `{op}'\n", status=2))
            continue
        if not skip:
            total = _add(total, run_argv(where, _strip_assignments(argv), via))
        skip = (op == "&&" and total.status != 0) or (op == "||" and total.status == 0)
        argv = []
    return total


def _add(total: Result, step: Result) -> Result:
    return Result(total.out + step.out, total.err + step.err, step.status, total.delay + step.delay)


def _strip_assignments(argv: list[str]) -> list[str]:
    """Drop leading NAME=VALUE words (bash's per-command environment)."""
    i = 0
    while i < len(argv) - 1 and "=" in argv[i] and argv[i].split("=", 1)[0].isidentifier():
        i += 1
    return argv[i:]


def not_found(where: Where, program: str, via: str) -> Result:
    """The error a missing program gives, as the caller in front of it words it."""
    if where.guest is not None and via == "lxc":
        return Result(err=f"lxc-attach: {where.guest.vmid}: ../src/lxc/attach.c: lxc_attach_run_command: "
                          f"1841 No such file or directory - Failed to exec \"{program}\"\n", status=127)
    text = {
        "timeout": f"timeout: failed to run command '{program}': No such file or directory",
        "env": f"env: '{program}': No such file or directory",
        "login": f"-bash: {program}: command not found",
    }.get(via, f"bash: line 1: {program}: command not found")
    return Result(err=text + "\n", status=127)


def run_argv(where: Where, argv: list[str], via: str = "bash") -> Result:
    """Run one program with its arguments (no shell involved)."""
    if not argv:
        return Result()
    program, args = argv[0], argv[1:]
    if where.guest is not None and via in ("bash", "login"):
        via = "lxc"  # inside `pct exec`, lxc-attach runs the program
    if program == "env":
        rest = _strip_env(args)
        return run_argv(where, rest, "env") if rest else Result(out="PATH=/usr/sbin:/usr/bin:/sbin:/bin\n")
    if program == "timeout":
        return _timeout(where, args)
    if program in ("sh", "bash") and len(args) >= 2 and args[0] == "-c":
        return run_line(where, args[1])
    command = COMMANDS.get(program)
    if command is None and where.guest is None:
        command = NODE_COMMANDS.get(program)
    if command is None:
        return not_found(where, program, via)
    return command(where, args)


def _strip_env(args: list[str]) -> list[str]:
    i = 0
    while i < len(args) and (args[i].startswith("-") or "=" in args[i]):
        i += 1
    return args[i:]


def _timeout(where: Where, args: list[str]) -> Result:
    """coreutils timeout: run the rest, end it with status 124 after the limit."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in ("-k", "-s", "--kill-after", "--signal") else 1
    if i < len(args) and args[i] == "--":
        i += 1
    if i >= len(args):
        return Result(err="timeout: missing operand\nTry 'timeout --help' for more information.\n", status=125)
    limit = _duration(args[i])
    if limit is None:
        return Result(err=f"timeout: invalid time interval '{args[i]}'\n", status=125)
    result = run_argv(where, args[i + 1:], "timeout")
    if limit and result.delay > limit:
        return replace(result, status=124, delay=limit)
    return result


def _duration(text: str) -> float | None:
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1:], 0)
    number = text[:-1] if scale else text
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        return None
    return value if value >= 0 else None


# ------------------------------------------------------------------ programs


def _echo(where: Where, args: list[str]) -> Result:
    newline = not (args and args[0] == "-n")
    return Result(out=" ".join(args[0 if newline else 1:]) + ("\n" if newline else ""))


def _sleep(where: Where, args: list[str]) -> Result:
    seconds = [_duration(a) for a in args]
    if not args or None in seconds:
        return Result(err="sleep: invalid time interval\n", status=1)
    return Result(delay=sum(s for s in seconds if s is not None))


def _hostname(where: Where, args: list[str]) -> Result:
    if not args or args[0] in ("-s", "--short"):
        return Result(out=where.hostname + "\n")
    if args[0] in ("-f", "--fqdn"):
        return Result(out=f"{where.hostname}.lan\n")
    if args[0] in ("-I", "--all-ip-addresses"):
        return Result(out=f"{where.guest.ip if where.guest else where.node.ip} \n")
    return Result(err="hostname: you must be root to change the host name\n", status=1)


def _seconds_up(where: Where) -> int:
    return where.guest.uptime if where.guest else where.node.uptime


def _load(where: Where) -> list[str]:
    if where.guest is None:
        return where.node.loadavg()
    load = where.guest.cpu * where.guest.cores
    return [f"{load:.2f}", f"{load * 0.9:.2f}", f"{load * 0.8:.2f}"]


def _uptime(where: Where, args: list[str]) -> Result:
    seconds = _seconds_up(where)
    days, rest = divmod(seconds, 86400)
    hours, mins = rest // 3600, rest % 3600 // 60
    if args[:1] == ["-s"]:
        return Result(out=time.strftime("%Y-%m-%d %H:%M:%S\n", time.localtime(time.time() - seconds)))
    if args[:1] == ["-p"]:
        parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
                 ((days, "day"), (hours, "hour"), (mins, "minute")) if n]
        return Result(out="up " + (", ".join(parts) or "0 minutes") + "\n")
    up = f"{days} day{'s' if days != 1 else ''}, " if days else ""
    up += f"{hours:2d}:{mins:02d}" if hours else f"{mins} min"
    load = ", ".join(_load(where))
    return Result(out=f" {time.strftime('%H:%M:%S')} up {up},  1 user,  load average: {load}\n")


def _files(where: Where) -> dict[str, str]:
    seconds = _seconds_up(where)
    guest = where.guest
    total = (guest.maxmem if guest else where.node.maxmem) // 1024
    used = (guest.mem if guest else where.node.mem) // 1024
    os_release = NODE_OS if guest is None else (UBUNTU_OS if "ubuntu" in guest.name else CT_OS)
    return {
        "/proc/loadavg": " ".join(_load(where)) + f" 1/{412 if guest is None else 23} {seconds % 90000 + 1000}\n",
        "/proc/uptime": f"{seconds:.2f} {seconds * 3.7:.2f}\n",
        "/proc/meminfo": f"MemTotal:       {total:8d} kB\nMemFree:        {total - used:8d} kB\n"
                         f"MemAvailable:   {total - used:8d} kB\n",
        "/etc/os-release": os_release,
        "/etc/hostname": where.hostname + "\n",
        "/etc/debian_version": "13.1\n" if guest is None else "12.12\n",
    }


def _cat(where: Where, args: list[str]) -> Result:
    files = _files(where)
    result = Result()
    for name in args:
        if name in files:
            result.out += files[name]
        else:
            result.err += f"cat: {name}: No such file or directory\n"
            result.status = 1
    return result


def _uname(where: Where, args: list[str]) -> Result:
    fields = {"-s": "Linux", "-n": where.hostname, "-r": KERNEL_RELEASE, "-v": KERNEL_VERSION,
              "-m": "x86_64", "-o": "GNU/Linux"}
    if not args:
        return Result(out="Linux\n")
    if args == ["-a"]:
        return Result(out=" ".join(fields.values()) + "\n")
    picked = [fields[a] for a in args if a in fields]
    if len(picked) != len(args):
        return Result(err=f"uname: invalid option -- '{args[0].lstrip('-')}'\n", status=1)
    return Result(out=" ".join(picked) + "\n")


def _help(where: Where, args: list[str]) -> Result:
    names = sorted(COMMANDS) + ([] if where.guest else sorted(NODE_COMMANDS))
    return Result(out="Simulated shell: these programs answer from the simulator's state:\n  "
                      + " ".join(sorted(set(names))) + "\n")


def _fixed(text: str, status: int = 0) -> Callable[[Where, list[str]], Result]:
    return lambda where, args: Result(out=text, status=status)


def _in_container(where: Where, guest: Guest, argv: list[str]) -> Result:
    return run_argv(replace(where, guest=guest, interactive=False), argv)


Command = Callable[[Where, list[str]], Result]
COMMANDS: dict[str, Command] = {
    "echo": _echo, "sleep": _sleep, "hostname": _hostname, "uptime": _uptime, "cat": _cat,
    "uname": _uname, "help": _help, "true": _fixed(""), "false": _fixed("", 1),
    "whoami": _fixed("root\n"), "id": _fixed("uid=0(root) gid=0(root) groups=0(root)\n"),
    "date": lambda where, args: Result(out=time.strftime("%a %b %e %H:%M:%S UTC %Y\n", time.gmtime())),
}
NODE_COMMANDS: dict[str, Command] = {
    "systemctl": shell_pve.systemctl, "apt": shell_pve.apt, "apt-get": shell_pve.apt,
    "sensors": shell_pve.sensors, "pveversion": shell_pve.pveversion, "qm": shell_pve.qm,
    "pct": partial(shell_pve.pct, run=_in_container),
}
