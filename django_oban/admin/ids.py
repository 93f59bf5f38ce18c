"""Numbers as they arrive in admin URLs, searches and filters: text that may not be a number the database takes."""

from __future__ import annotations

#: The largest 64-bit signed integer: job ids are ``bigint``, and SQLite refuses larger numbers.
BIGINT_MAX = 2**63 - 1


def job_id(text: str) -> int | None:
    """``text`` as a job id (ASCII digits, at most ``BIGINT_MAX``), or ``None`` when it cannot be one."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= BIGINT_MAX else None


def beyond_bigint(text: str) -> bool:
    """Whether ``text`` is an integer (``"-12"``, ``" +3"``) too large for a 64-bit column."""
    digits = text.strip().lstrip("+-")
    return digits.isascii() and digits.isdigit() and int(digits) > BIGINT_MAX
