"""A service's address: a free port, its URL, and the wait until something answers HTTP there."""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from runplane.worker.service import free_port, service_url, wait_until_answers

pytestmark = pytest.mark.anyio


class _Forbidden(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(403)  # Jupyter's answer without a token: the server is up all the same
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_free_port_can_be_bound():
    port = free_port("127.0.0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert service_url("127.0.0.1", port) == f"http://127.0.0.1:{port}/"
    assert service_url("::1", port) == f"http://[::1]:{port}/"


async def test_waits_until_the_server_answers_at_api_status():
    port = free_port("127.0.0.1")
    url = service_url("127.0.0.1", port)
    waiting = asyncio.ensure_future(wait_until_answers(url, poll_seconds=0.05))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # nothing listens yet
    server = ThreadingHTTPServer(("127.0.0.1", port), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        await asyncio.wait_for(waiting, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert _Forbidden.paths[-1] == "/api/status"
