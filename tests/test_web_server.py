"""The dashboard server serves on the very socket it bound (no close-and-rebind race)."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import pytest
from jarvis.web import bind_socket, serve

from tests.fixtures.hub import running_hub


async def test_serve_on_a_free_port_answers_on_the_port_it_reports() -> None:
    async with running_hub() as hub:
        server = await serve(hub, "127.0.0.1", 0)
        try:
            assert server.url == f"http://127.0.0.1:{server.port}/"
            health = server.url + "api/health"
            status = await asyncio.to_thread(lambda: urllib.request.urlopen(health, timeout=5).status)  # noqa: S310
            assert status == 200
            with pytest.raises(OSError):  # the port stays ours while we serve
                bind_socket("127.0.0.1", server.port)
        finally:
            await server.stop()
    free = socket.socket()
    free.bind(("127.0.0.1", server.port))  # and is released when we stop
    free.close()


async def test_a_taken_port_is_an_error_before_anything_starts() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        async with running_hub() as hub:
            with pytest.raises(OSError):
                await serve(hub, "127.0.0.1", holder.getsockname()[1])
    finally:
        holder.close()
