"""An interactive shell on a remote PTY: bytes in, bytes out, resizable (for a web terminal)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncssh


class PtySession:
    """A login shell on a PTY over a pooled SSH connection; output is raw terminal bytes."""

    def __init__(self, process: asyncssh.SSHClientProcess[Any], cols: int, rows: int) -> None:
        self._proc = process
        self.cols = cols
        self.rows = rows

    @property
    def closed(self) -> bool:
        """Tell whether the remote shell has ended or the session was closed."""
        return self._proc.is_closing() or self._proc.exit_status is not None

    @property
    def exit_status(self) -> int | None:
        """Return the shell's exit status once it has ended."""
        return self._proc.exit_status

    async def write(self, data: bytes) -> None:
        """Send keystrokes (or pasted bytes) to the shell."""
        if self._proc.is_closing():
            raise ConnectionError("PTY session is closed")
        self._proc.stdin.write(data)
        await self._proc.stdin.drain()

    async def read(self, size: int = 65536) -> bytes:
        """Return the next chunk of output, or b"" once the session has ended."""
        data: bytes = await self._proc.stdout.read(size)
        return data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield output chunks until the session ends."""
        while chunk := await self.read():
            yield chunk

    async def pump(self, on_output: Callable[[bytes], Awaitable[None] | None]) -> None:
        """Hand every output chunk to ``on_output`` until the session ends (run it as a task)."""
        async for chunk in self:
            result = on_output(chunk)
            if result is not None:
                await result

    def resize(self, cols: int, rows: int) -> None:
        """Tell the remote PTY its new size (the shell gets SIGWINCH)."""
        if cols <= 0 or rows <= 0:
            raise ValueError("cols and rows must be positive")
        self._proc.change_terminal_size(cols, rows)
        self.cols, self.rows = cols, rows

    async def close(self, timeout_s: float = 5.0) -> None:
        """End the session: closing the channel hangs up the PTY, which ends the shell."""
        self._proc.close()
        with contextlib.suppress(asyncio.TimeoutError, asyncssh.Error, OSError):
            await asyncio.wait_for(self._proc.wait_closed(), timeout_s)

