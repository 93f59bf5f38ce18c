"""Numbers as they arrive in admin URLs, searches and filters: text that may not be a number the database takes."""

from __future__ import annotations

from ..records import MAX_ID
from ..search import job_id

__all__ = ["beyond_bigint", "job_id"]


def beyond_bigint(text: str) -> bool:
    """Whether ``text`` is an integer (``"-12"``, ``" +3"``) too large for a 64-bit column."""
    digits = text.strip().lstrip("+-")
    return digits.isascii() and digits.isdigit() and int(digits) > MAX_ID
