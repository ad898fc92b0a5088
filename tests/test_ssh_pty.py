"""Interactive PTY sessions (the dashboard terminal's backend), on the hub-free SSH client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from jarvis.core import ToolError
from jarvis.plugins.ssh.client import HostSpec, PtySession, SshClient
from jarvis.plugins.ssh.plugin import open_pty

from tests.fixtures.hub import running_hub
from tests.fixtures.sshd import SshdServer


@pytest.fixture
async def client(sshd: SshdServer) -> AsyncIterator[SshClient]:
    spec = HostSpec(
        host=sshd.host,
        port=sshd.port,
        username=sshd.username,
        key_file=str(sshd.client_key),
        known_hosts=str(sshd.known_hosts),
    )
    client = SshClient({"lab": spec})
    try:
        yield client
    finally:
        await client.close()


async def read_until(pty: PtySession, *needles: bytes, timeout_s: float = 10) -> bytes:
    """Collect output until every needle has appeared (typed input is echoed: pick needles
    that only the command's output can contain)."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while not all(n in seen for n in needles):
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {needles} in {seen!r}"
        chunk = await asyncio.wait_for(pty.read(), left)
        assert chunk, f"session ended before {needles} appeared: {seen!r}"
        seen += chunk
    return seen


async def test_a_pty_runs_an_interactive_shell(client: SshClient) -> None:
    pty = await client.open_pty("lab")
    await pty.write(b'echo h""i; tty\n')
    out = await read_until(pty, b"hi\r\n", b"/dev/pts/")
    assert b"/dev/pts/" in out and not pty.closed
    await pty.close()


async def test_a_pty_reports_its_size_and_can_be_resized(client: SshClient) -> None:
    pty = await client.open_pty("lab", term_type="xterm-256color", cols=80, rows=24)
    await pty.write(b"stty size; echo $TERM\n")
    await read_until(pty, b"24 80", b"xterm-256color\r\n")
    pty.resize(132, 40)
    await pty.write(b"stty size\n")
    await read_until(pty, b"40 132")
    assert (pty.cols, pty.rows) == (132, 40)
    with pytest.raises(ValueError):
        pty.resize(0, 10)
    await pty.close()


async def test_closing_a_pty_ends_the_shell_but_keeps_the_connection(
    client: SshClient, sshd: SshdServer
) -> None:
    pty = await client.open_pty("lab")
    await pty.write(b"echo $$ > /dev/null; echo rea''dy\n")
    await read_until(pty, b"ready")
    closed_before = sshd.log().count("Close session")
    await pty.close()
    assert pty.closed
    deadline = time.monotonic() + 5
    while sshd.log().count("Close session") == closed_before:  # sshd saw the hang-up
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    result = await client.exec("lab", ["echo", "still here"])
    assert result.stdout == "still here\n"
    assert client.connects == {"lab": 1} and sshd.accepted_logins() == 1


async def test_output_can_be_pumped_to_a_callback_until_the_shell_exits(
    client: SshClient,
) -> None:
    pty = await client.open_pty("lab")
    received: list[bytes] = []
    pump = asyncio.create_task(pty.pump(received.append))
    await pty.write(b"echo by''e; exit 7\n")
    await asyncio.wait_for(pump, 10)  # ends on its own when the shell exits
    assert b"bye\r\n" in b"".join(received)
    await pty.close()
    assert pty.exit_status == 7


async def test_bad_pty_parameters_are_refused(client: SshClient) -> None:
    with pytest.raises(ValueError):
        await client.open_pty("lab", cols=0)
    with pytest.raises(ValueError):
        await client.open_pty("lab", term_type="xterm; rm -rf /")


async def test_the_dashboard_opens_a_pty_through_the_running_plugin(sshd: SshdServer) -> None:
    block = {
        "hosts": {
            "lab": {
                "host": sshd.host, "port": sshd.port, "username": sshd.username,
                "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts),
            }
        }
    }
    async with running_hub({"plugins": {"ssh": block}}, plugins=["ssh"]) as hub:
        ctx = hub.contexts["ssh"]
        pty = await open_pty(ctx, "lab", cols=100, rows=30)
        await pty.write(b"stty size\n")
        await read_until(pty, b"30 100")
        await pty.close()
        with pytest.raises(ToolError) as missing:
            await open_pty(ctx, "elsewhere")
        assert missing.value.code == "not_found"
