"""Numbers as they arrive in admin URLs, searches and filters: text that may not be a number the database takes."""

from __future__ import annotations

from ..search import job_id

__all__ = ["BIGINT_MAX", "beyond_bigint", "job_id"]

#: The largest 64-bit signed integer: job ids are ``bigint``, and SQLite refuses larger numbers.
BIGINT_MAX = 2**63 - 1


def beyond_bigint(text: str) -> bool:
    """Whether ``text`` is an integer (``"-12"``, ``" +3"``) too large for a 64-bit column."""
    digits = text.strip().lstrip("+-")
    return digits.isascii() and digits.isdigit() and int(digits) > BIGINT_MAX
