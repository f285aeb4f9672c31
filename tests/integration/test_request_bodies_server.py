"""Issue 7's inputs sent to a real server (`runplane serve`) over TCP, on SQLite and on PostgreSQL: each
gets its answer, none a 500, a stalled body a 408, a hang-up a 499 in the metrics, and the server keeps
serving."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live import module_database
from tests.support.server import RunningServer, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BODY_TIMEOUT_SECONDS = 2
# Generous: a loaded machine answers late; the server's own bound is BODY_TIMEOUT_SECONDS.
SOCKET_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp(f"bodies-{request.param}")
    env = {"RUNPLANE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS)}
    with (
        module_database(request, root) as database_url,
        running_server(root / "server", env={**env, "RUNPLANE_DATABASE_URL": database_url}) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def user_key(server: RunningServer) -> str:
    created = httpx.post(
        f"{server.base_url}/v1/keys",
        headers={"X-API-Key": server.admin_key},
        json={"name": "bodies-user", "role": "user"},
        timeout=30,
    )
    key: str = created.json()["key"]
    return key


TASK = b'{"job_name": "a", "entrypoint": "true"'
CASES = [
    ("Application/JSON", TASK + b"}", 201, None),
    ("application/json", TASK + b', "run_label": "\\ud800"}', 400, "run_label"),
    ("application/json", TASK + b', "priority": ' + b"5" * 5000 + b"}", 400, "priority"),
    ("application/json", TASK + b', "random_seed": ' + b"1" * 4400 + b"}", 400, "random_seed"),
    (
        "application/json",
        TASK + b', "metadata": {"m": ' + b"[" * 4000 + b"]" * 4000 + b"}}",
        400,
        "metadata.m",
    ),
    (
        "application/json",
        b'{"job_name": "a", "model_id": "linear_reg", "inputs": {"x": ' + b"[" * 4000 + b"]" * 4000 + b"}}",
        400,
        "inputs.x",
    ),
    ("application/json", TASK + b', "run_label": "a\\u0000b"}', 400, "run_label"),
    ("application/json", TASK + b', "metadata": {"k": "\\u0000"}}', 400, "metadata.k"),
    ("application/json", TASK + b', "args": ["\\u0000"]}', 400, "args.0"),
    ("application/json", TASK + b', "env": {"A=B": "1"}}', 400, "env"),
    ("application/json", TASK + b', "env": {"": "1"}}', 400, "env"),
    ("application/json", TASK + b', "secrets": {"T": "x\\u0000"}}', 400, "secrets.T"),
    ("application/json", TASK + b', "datasets": ["imagenet"]}', 422, "datasets"),
]


def test_each_malformed_input_gets_its_answer_and_never_a_500(server: RunningServer, user_key: str):
    with httpx.Client(base_url=server.base_url, timeout=SOCKET_TIMEOUT_SECONDS) as http:
        for content_type, body, status, field in CASES:
            response = http.post(
                "/v1/tasks", headers={"X-API-Key": user_key, "content-type": content_type}, content=body
            )
            assert response.status_code == status, (body[:80], response.text)
            assert response.headers["content-type"] == "application/json"
            if field is not None:
                payload = response.json()
                assert payload["code"] == "VALIDATION_ERROR"
                assert payload["details"]["field"] == field
                assert payload["trace_id"] == response.headers["x-trace-id"]
        assert http.get("/healthz").status_code == 200
    assert "unhandled error" not in server.log()


def _connect(server: RunningServer) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_SECONDS)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_a_body_that_never_finishes_is_408_in_bounded_time(server: RunningServer, user_key: str):
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-API-Key: {user_key}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"job'
        )
        status, headers, body = _read_response(sock)
        waited = time.monotonic() - started
    assert status == 408
    assert json.loads(body) == {
        "error": f"The request body did not arrive within {BODY_TIMEOUT_SECONDS} seconds",
        "code": "REQUEST_TIMEOUT",
        "trace_id": headers["x-trace-id"],
        "details": {"timeout_seconds": BODY_TIMEOUT_SECONDS},
    }
    assert waited >= BODY_TIMEOUT_SECONDS * 0.9


def _requests(server: RunningServer, operation: str) -> dict[str, float]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=SOCKET_TIMEOUT_SECONDS).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "runplane_http_requests_total" and sample.labels["operation"] == operation:
                counts[sample.labels["status"]] = counts.get(sample.labels["status"], 0) + sample.value
    return counts


def test_a_client_hanging_up_mid_upload_is_a_499_warning(server: RunningServer, user_key: str):
    before = _requests(server, "upload_snapshot")
    with _connect(server) as sock:
        sock.sendall(
            b"POST /v1/snapshots HTTP/1.1\r\nHost: x\r\nContent-Type: application/gzip\r\n"
            + f"X-API-Key: {user_key}\r\nContent-Length: 100000\r\n\r\n".encode()
            + b"\x1f\x8b\x08\x00"
            + b"\x00" * 1000
        )
        time.sleep(0.2)  # let the server start reading the upload (a hang-up before is one too)
    deadline = time.monotonic() + SOCKET_TIMEOUT_SECONDS
    while _requests(server, "upload_snapshot").get("499", 0) == before.get("499", 0):
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.2)
    after = _requests(server, "upload_snapshot")
    assert after.get("500", 0) == before.get("500", 0)
    log = server.log()
    assert "client disconnected during POST /v1/snapshots" in log
    assert "unhandled error" not in log
    assert httpx.get(f"{server.base_url}/healthz", timeout=SOCKET_TIMEOUT_SECONDS).status_code == 200


def test_an_unauthenticated_body_is_never_read(server: RunningServer):
    # The key is checked before the body is parsed: a bad body without a key is a 401 like any other.
    response = httpx.post(
        f"{server.base_url}/v1/tasks",
        headers={"content-type": "application/json"},
        content=TASK + b', "run_label": "\\ud800"}',
        timeout=SOCKET_TIMEOUT_SECONDS,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


def _raw_answer(server: RunningServer, request: bytes) -> tuple[bytes, bytes]:
    """The status line and the headers of the answer to ``request`` sent as raw bytes."""
    url = httpx.URL(server.base_url)
    with socket.create_connection((url.host, url.port), timeout=SOCKET_TIMEOUT_SECONDS) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    return head.split(b"\r\n", 1)[0], head


def test_what_the_http_parser_refuses_is_uvicorns_plain_text_400_as_the_readme_says(server: RunningServer):
    # README "Errors": the one answer that is not application/json comes from uvicorn's parser, before
    # the application; a URL just under the limit still reaches the application (a JSON 404).
    under = _raw_answer(server, b"GET /" + b"a" * 65000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert under[0].startswith(b"http/1.1 404") and b"content-type: application/json" in under[1], under
    for request in (
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/queue HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    ):
        status, head = _raw_answer(server, request)
        assert status.startswith(b"http/1.1 400") and b"content-type: text/plain" in head, head
