"""Secret values never reach the task log."""

from __future__ import annotations

from runplane.worker.masking import MASK, SecretMasker


def test_every_occurrence_is_masked() -> None:
    masker = SecretMasker(["hunter2"])
    assert masker.mask("pw=hunter2, again hunter2hunter2") == "pw=***, again ******"


def test_longest_secret_wins_over_one_it_contains() -> None:
    masker = SecretMasker(["abc", "abcdef"])
    assert masker.mask("token abcdef and abc") == "token *** and ***"


def test_short_values_are_masked_and_empty_ones_ignored() -> None:
    masker = SecretMasker(["", "k3y", "x"])
    assert masker.mask("k3y and x") == "*** and ***"
    assert SecretMasker([""]).mask("nothing to hide") == "nothing to hide"
    assert SecretMasker([]).mask("nothing to hide") == "nothing to hide"


def test_regex_metacharacters_are_literal() -> None:
    masker = SecretMasker(["a.b*c", "(x|y)"])
    assert masker.mask("a.b*c axbbc (x|y) x") == "*** axbbc *** x"


def test_overlapping_and_adjacent_secrets() -> None:
    masker = SecretMasker(["abc", "bcd"])
    assert masker.mask("abcd") == f"{MASK}d"
    assert masker.mask("abcbcd") == f"{MASK}{MASK}"


def test_multiline_secret_is_masked_line_by_line() -> None:
    pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n}\n-----END KEY-----"
    masker = SecretMasker([pem])
    assert masker.mask("key line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == "key line: ***"
    assert masker.mask(pem) == MASK
    # A one-character line of a secret is not worth masking everywhere it appears.
    assert masker.mask("{ }") == "{ }"


def test_unicode_secrets() -> None:
    masker = SecretMasker(["pässwörd"])
    assert masker.mask("login pässwörd ok") == "login *** ok"
