"""Code snapshots: upload, metadata, download, tenancy, unsafe archives refused with nothing stored."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.worker_flow import FakeWorker, new_worker_key

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

GZIP = {"Content-Type": "application/gzip"}


@pytest.fixture
async def streaming_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client for streamed request bodies (the contract check of `client` needs the body in memory)."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def archive(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def device(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info, None


def good_archive() -> bytes:
    return archive(
        regular("train.py", b"print('hello')\n"),
        regular("pkg/util.py", b"X = 1\n"),
        link("pkg/alias.py", "util.py", tarfile.SYMTYPE),
    )


def stored_files(data_dir: Path) -> list[str]:
    root = data_dir / "snapshots"
    return sorted(os.listdir(root)) if root.exists() else []


async def upload(client: Any, key: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return await client.post("/v1/snapshots", headers={**auth(key), **(headers or GZIP)}, content=body)


async def test_upload_then_metadata_and_download(client, settings, user_key, admin_key):
    body = good_archive()
    response = await upload(client, user_key, body)
    assert response.status_code == 201, response.text
    snapshot = response.json()
    assert set(snapshot) == {"id", "user_id", "size", "sha256", "created_at"}
    assert snapshot["user_id"] == "alice"
    assert snapshot["size"] == len(body)
    assert snapshot["sha256"] == hashlib.sha256(body).hexdigest()
    # The archive, and beside it the list of its files (what submit checks an entrypoint against).
    assert stored_files(settings.resolved_data_dir) == [
        f"{snapshot['id']}.files.json",
        f"{snapshot['id']}.tar.gz",
    ]

    for key in (user_key, admin_key):
        fetched = await client.get(f"/v1/snapshots/{snapshot['id']}", headers=auth(key))
        assert fetched.status_code == 200
        assert fetched.json() == snapshot

    for key in (user_key, admin_key):
        download = await client.get(f"/v1/snapshots/{snapshot['id']}/content", headers=auth(key))
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/gzip"
        assert download.content == body


async def test_octet_stream_is_accepted_too(client, user_key):
    body = good_archive()
    response = await upload(client, user_key, body, {"Content-Type": "application/octet-stream"})
    assert response.status_code == 201
    assert response.json()["sha256"] == hashlib.sha256(body).hexdigest()


async def test_streamed_upload_without_content_length(streaming_client, user_key):
    body = good_archive()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = await streaming_client.post(
        "/v1/snapshots", headers={**auth(user_key), **GZIP}, content=chunks()
    )
    assert response.status_code == 201
    assert response.json()["size"] == len(body)


async def test_other_users_see_no_snapshot(client, user_key, other_user_key):
    snapshot = (await upload(client, user_key, good_archive())).json()
    for path in (f"/v1/snapshots/{snapshot['id']}", f"/v1/snapshots/{snapshot['id']}/content"):
        response = await client.get(path, headers=auth(other_user_key))
        assert_error(response, 404, "NOT_FOUND", "Snapshot not found", {"snapshot_id": snapshot["id"]})
    unknown = await client.get("/v1/snapshots/nope/content", headers=auth(user_key))
    assert_error(unknown, 404, "NOT_FOUND", "Snapshot not found", {"snapshot_id": "nope"})


async def test_workers_download_only_while_they_run_a_task_from_it(client, settings, user_key, worker_key):
    body = good_archive()
    snapshot_id = (await upload(client, user_key, body)).json()["id"]
    url = f"/v1/snapshots/{snapshot_id}/content"
    not_found = (404, "NOT_FOUND", "Snapshot not found", {"snapshot_id": snapshot_id})
    assert_error(await client.get(url, headers=auth(worker_key)), *not_found)

    task = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={"job_name": "t", "entrypoint": "python train.py", "snapshot_id": snapshot_id},
    )
    worker = await FakeWorker(client, worker_key).register()
    assert_error(await client.get(url, headers=auth(worker_key)), *not_found)  # queued, not yet its task
    await worker.claim(task.json()["id"])
    download = await client.get(url, headers=auth(worker_key))
    assert download.status_code == 200 and download.content == body
    assert download.headers["content-type"] == "application/gzip"
    assert download.headers["accept-ranges"] == "none"
    ranged = await client.get(url, headers={**auth(worker_key), "Range": "bytes=0-9"})
    assert ranged.status_code == 200 and ranged.content == body  # no partial answers here
    stranger = await new_worker_key(settings, "worker-2")
    assert_error(await client.get(url, headers=auth(stranger)), *not_found)

    await worker.report(task.json()["id"], status="running")
    await worker.finish(task.json()["id"])
    assert_error(await client.get(url, headers=auth(worker_key)), *not_found)


async def test_workers_may_not_read_metadata_or_upload(client, user_key, worker_key):
    snapshot = (await upload(client, user_key, good_archive())).json()
    metadata = await client.get(f"/v1/snapshots/{snapshot['id']}", headers=auth(worker_key))
    assert_error(
        metadata, 403, "FORBIDDEN", "This operation needs the admin or user role", {"role": "worker"}
    )
    refused = await upload(client, worker_key, good_archive())
    assert refused.status_code == 403


UNSAFE = [
    pytest.param(
        [regular("ok.py", b"1"), regular("/etc/cron.d/evil", b"x")],
        "/etc/cron.d/evil",
        "absolute or empty path",
        id="absolute",
    ),
    pytest.param([regular("../evil.py", b"x")], "../evil.py", "path contains '..'", id="dotdot"),
    pytest.param(
        [regular("src/../../evil.py", b"x")], "src/../../evil.py", "path contains '..'", id="nested-dotdot"
    ),
    pytest.param(
        [link("passwd", "../../etc/passwd", tarfile.SYMTYPE)],
        "passwd",
        "symlink target '../../etc/passwd' leaves the destination (leaves the destination)",
        id="symlink-out",
    ),
    pytest.param(
        [link("abs", "/etc/passwd", tarfile.SYMTYPE)],
        "abs",
        "symlink to an absolute path",
        id="symlink-absolute",
    ),
    pytest.param(
        [link("hard", "../outside", tarfile.LNKTYPE)],
        "hard",
        "hardlink target '../outside' leaves the destination (leaves the destination)",
        id="hardlink-out",
    ),
    pytest.param(
        [link("up", "..", tarfile.SYMTYPE), regular("up/evil.py", b"x")],
        "up",
        "symlink target '..' leaves the destination (leaves the destination)",
        id="write-through-symlink",
    ),
    pytest.param([device("dev/null")], "dev/null", "device file", id="device"),
]


@pytest.mark.parametrize(("members", "member", "why"), UNSAFE)
async def test_unsafe_members_are_refused_and_nothing_is_stored(
    client, settings, user_key, members, member, why
):
    response = await upload(client, user_key, archive(*members))
    assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        f"Unsafe archive member {member!r}: {why}",
        {"field": "body", "member": member, "reason": why},
    )
    assert stored_files(settings.resolved_data_dir) == []


@pytest.mark.parametrize(
    "body", [b"", b"plain text, not gzip", b"\x1f\x8b\x08\x00garbage"], ids=["empty", "text", "bad-gzip"]
)
async def test_not_an_archive(client, settings, user_key, body):
    response = await upload(client, user_key, body)
    assert_error(
        response,
        400,
        "BAD_REQUEST",
        "The snapshot is not a valid gzip-compressed tar archive",
        {"field": "body"},
    )
    assert stored_files(settings.resolved_data_dir) == []


async def test_wrong_content_type_is_415(client, user_key):
    response = await upload(client, user_key, good_archive(), {"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_needs_a_key(client):
    response = await client.post("/v1/snapshots", headers=GZIP, content=good_archive())
    assert_error(response, 401, "UNAUTHORIZED", "No authorization token provided")


class TestUploadLimit:
    """Snapshots may be larger than the JSON body limit, up to the upload limit."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_body_bytes": 2048, "max_upload_bytes": 64 * 1024}

    async def test_larger_than_json_limit_is_accepted(self, client, user_key):
        body = archive(regular("blob.bin", os.urandom(16 * 1024)))
        assert len(body) > 2048
        response = await upload(client, user_key, body)
        assert response.status_code == 201, response.text

    async def test_over_upload_limit_is_413(self, client, streaming_client, settings, user_key):
        body = archive(regular("blob.bin", os.urandom(80 * 1024)))
        response = await upload(client, user_key, body)
        assert_error(
            response, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds 65536 bytes", {"limit_bytes": 65536}
        )

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        streamed = await streaming_client.post(
            "/v1/snapshots", headers={**auth(user_key), **GZIP}, content=chunks()
        )
        assert_error(
            streamed, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds 65536 bytes", {"limit_bytes": 65536}
        )
        assert stored_files(settings.resolved_data_dir) == []

    async def test_json_bodies_keep_their_own_limit(self, client, user_key):
        body = {"job_name": "big", "entrypoint": "python x.py", "metadata": {"note": "x" * 3000}}
        response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
        assert_error(
            response, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds 2048 bytes", {"limit_bytes": 2048}
        )


class TestUnpackedLimit:
    """A small archive that unpacks to a lot (a decompression bomb) is refused, found from the headers."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"snapshot_max_unpacked_bytes": 1024 * 1024, "snapshot_max_members": 3}

    async def test_unpacking_past_the_limit_is_413_and_nothing_is_stored(self, client, settings, user_key):
        # 2 MiB of zeros: a few KiB compressed.
        body = archive(regular("zeros.bin", bytes(2 * 1024 * 1024)))
        assert len(body) < 16 * 1024
        response = await upload(client, user_key, body)
        why = "unpacks to more than 1048576 bytes (the limit)"
        assert_error(
            response,
            413,
            "PAYLOAD_TOO_LARGE",
            f"The snapshot archive is refused: it {why}",
            {"field": "body", "reason": why, "limit_bytes": 1024 * 1024},
        )
        assert stored_files(settings.resolved_data_dir) == []

    async def test_a_header_claiming_terabytes_is_refused_without_reading_on(self, client, user_key):
        info = tarfile.TarInfo("sparse.bin")
        info.size = 3 * 1024**4
        body = gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096))
        response = await upload(client, user_key, body)
        assert response.status_code == 413, response.text

    async def test_more_members_than_the_limit_is_413(self, client, user_key):
        body = archive(*(regular(f"f{i}.py", b"x") for i in range(4)))
        response = await upload(client, user_key, body)
        why = "has more than 3 members (the limit)"
        assert_error(
            response,
            413,
            "PAYLOAD_TOO_LARGE",
            f"The snapshot archive is refused: it {why}",
            {"field": "body", "reason": why, "limit_members": 3},
        )

    async def test_within_the_limits_is_accepted(self, client, user_key):
        body = archive(*(regular(f"f{i}.py", bytes(1000)) for i in range(3)))
        assert (await upload(client, user_key, body)).status_code == 201
