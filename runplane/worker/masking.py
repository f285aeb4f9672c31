"""Mask a task's secret values in the text it writes before that text reaches the task log."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# A multi-line secret (a PEM key, a JSON credential) never appears whole in a line-by-line log, so each of
# its lines is masked on its own too; lines shorter than this ("}", "") would mask innocent text everywhere.
_MIN_SECRET_LINE_CHARS = 4


class SecretMasker:
    """Replace every occurrence of every non-empty secret value by ``***``.

    Longer values are tried first, so a secret that contains another is masked whole rather than leaving a
    fragment. Short values (three characters, even one) are masked like any other: a value configured as a
    secret is masked wherever it appears, however often that is. Empty values are ignored.
    """

    def __init__(self, secret_values: Iterable[str]) -> None:
        values: set[str] = set()
        for value in secret_values:
            if not value:
                continue
            values.add(value)
            lines = value.splitlines()
            if len(lines) > 1:
                values.update(line.strip() for line in lines if len(line.strip()) >= _MIN_SECRET_LINE_CHARS)
        ordered = sorted(values, key=lambda value: (-len(value), value))
        self._pattern = re.compile("|".join(re.escape(value) for value in ordered)) if ordered else None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)
