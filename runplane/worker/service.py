"""Tasks of kind ``service`` (Jupyter servers): the address they listen on and the wait until they answer.

A service's command gets ``--ip=<host> --port=<port>``, a port the worker found free on ``host`` (a small
race remains between finding it and the server binding it; the server is started with no port retries,
so a lost race fails the service instead of moving it to an address nobody reports). Once
``http://<host>:<port>/api/status`` gives any HTTP answer (Jupyter answers 403 without its token) the
service is up and the worker reports ``http://<host>:<port>/`` as its ``service_url``.
"""

from __future__ import annotations

import asyncio
import socket

import httpx

STATUS_PATH = "api/status"
POLL_SECONDS = 0.25


def free_port(host: str) -> int:
    """A TCP port nothing listens on at ``host`` right now (the kernel's choice)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def service_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


async def wait_until_answers(url: str, *, poll_seconds: float = POLL_SECONDS) -> None:
    """Returns once ``<url>api/status`` gives any HTTP answer; polls until then (cancel to give up)."""
    # trust_env=False: a proxy from the worker's environment must not stand between it and its own server.
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as http:
        while True:
            try:
                await http.get(url + STATUS_PATH)
                return
            except httpx.HTTPError:
                await asyncio.sleep(poll_seconds)
