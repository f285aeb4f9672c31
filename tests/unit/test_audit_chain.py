"""The audit chain's canonical form, hashing and checker, without a database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from runplane import audit


def _chain(count: int) -> list[tuple[dict, str, str]]:
    links, prev = [], audit.GENESIS_HASH
    for seq in range(1, count + 1):
        document = {
            "sequence_num": seq,
            "timestamp": audit.format_timestamp(datetime(2026, 11, 29, 12, 0, seq, tzinfo=UTC)),
            "event_type": "job_queued",
            "user_id": "alice",
            "resource": f"task/t{seq}",
            "action": "submit",
            "success": True,
            "ip_address": "127.0.0.1",
            "error": None,
            "metadata": {"task_id": f"t{seq}"},
        }
        own = audit.chain_hash(prev, document)
        links.append((document, prev, own))
        prev = own
    return links


def test_canonical_json_sorts_keys_without_whitespace_and_keeps_utf8():
    assert audit.canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()


def test_chain_hash_is_sha256_of_prev_hash_then_canonical_json():
    document = {"x": "y"}
    expected = hashlib.sha256(("0" * 64 + '{"x":"y"}').encode()).hexdigest()
    assert audit.chain_hash(audit.GENESIS_HASH, document) == expected


def test_timestamps_always_carry_six_fractional_digits_in_utc():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert audit.format_timestamp(moment) == "2026-01-02T03:04:05.000000Z"


def test_metadata_is_reduced_to_values_every_json_library_writes_alike():
    cleaned = audit.clean_metadata({"f": 1.5, "big": 2**60, "s": "a\ud800b\x00", 3: (1, 2), "ok": 7})
    assert cleaned == {"f": "1.5", "big": str(2**60), "s": "a?b\ufffd", "3": [1, 2], "ok": 7}
    audit.canonical_json(cleaned).decode("utf-8")  # encodable


def test_entry_fields_come_from_the_actor_and_are_cut_to_the_columns():
    token = audit.current_actor.set(audit.Actor("alice", "10.0.0.1"))
    try:
        fields = audit.AuditEntry(event_type="file_access", action="download", resource="x" * 5000).fields()
    finally:
        audit.current_actor.reset(token)
    assert fields["user_id"] == "alice" and fields["ip_address"] == "10.0.0.1"
    assert len(fields["resource"]) == 1200
    assert audit.AuditEntry(event_type="file_access", action="download").fields()["user_id"] == "system"
    with pytest.raises(ValueError, match="unknown audit event type"):
        audit.AuditEntry(event_type="not_a_type", action="x")


def test_scrub_removes_the_tasks_own_secret_values_and_secret_looking_ones():
    text = audit.scrub("failed with sk-live-1234 and --api-key abcdef", {"OPENAI_API_KEY": "sk-live-1234"})
    assert text is not None and "sk-live-1234" not in text and "abcdef" not in text


def test_an_intact_chain_checks_out():
    checker = audit.ChainChecker()
    links = _chain(5)
    assert all(checker.feed(*link) for link in links)
    checker.finish(5, links[-1][2])
    assert not checker.failed


@pytest.mark.parametrize(
    ("tamper", "first", "reason"),
    [
        ("edit", 3, "hash"),
        ("rehash", 3, "hash"),
        ("delete", 3, "missing"),
        ("swap", 2, "link"),
        ("truncate", 5, "missing"),
        ("head", 5, "head"),
    ],
)
def test_the_first_bad_sequence_number_is_named(tamper, first, reason):
    links = _chain(5)
    head_seq, head_hash = 5, links[-1][2]
    if tamper == "edit":
        links[2][0]["user_id"] = "mallory"
    elif tamper == "rehash":
        document, prev, _ = links[2]
        links[2] = (document, prev, "f" * 64)
    elif tamper == "delete":
        del links[2]
    elif tamper == "swap":  # rows 2 and 4 trade places (their numbers swapped)
        second, fourth = links[1], links[3]
        links[1] = ({**fourth[0], "sequence_num": 2}, fourth[1], fourth[2])
        links[3] = ({**second[0], "sequence_num": 4}, second[1], second[2])
    elif tamper == "truncate":
        del links[4]
    elif tamper == "head":
        head_hash = "e" * 64
    checker = audit.ChainChecker()
    for link in links:
        if not checker.feed(*link):
            break
    checker.finish(head_seq, head_hash)
    assert (checker.first_tampered, checker.reason) == (first, reason)
