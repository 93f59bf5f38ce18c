"""Making what the runtime writes storable: bounded sizes and only characters PostgreSQL accepts.

PostgreSQL's ``text`` and ``jsonb`` cannot hold a NUL character, and ``jsonb`` (like UTF-8)
cannot hold a lone surrogate; ``jsonb`` has no NaN or Infinity either. An error message,
traceback or ``Record`` value holding one of those must still end in a written outcome,
so the runtime replaces such characters and trims errors before writing them.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Most characters kept of an error message in ``Job.errors`` (its beginning is kept).
MAX_ERROR_LENGTH = 2_000
#: Most characters kept of a traceback in ``Job.errors`` (its end, where the error is, is kept).
MAX_TRACEBACK_LENGTH = 10_000
#: Most entries kept in ``Job.errors``: the most recent ones.
MAX_ERRORS = 20
#: What replaces a character PostgreSQL rejects (NUL, a lone surrogate).
REPLACEMENT = "\ufffd"
#: Marks where a trimmed text was cut.
ELLIPSIS = "…"

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """``text`` with the characters PostgreSQL rejects replaced by ``REPLACEMENT``."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def trim_start(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text`` (marked as cut when longer)."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def trim_end(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text`` (marked as cut when longer)."""
    return text if len(text) <= limit else ELLIPSIS + text[len(text) - limit + 1 :]


def error_message(text: str) -> str:
    """An error message as stored: storable and at most ``MAX_ERROR_LENGTH`` characters."""
    return storable_text(trim_start(text, MAX_ERROR_LENGTH))


def error_traceback(text: str) -> str:
    """A traceback as stored: storable and at most ``MAX_TRACEBACK_LENGTH`` characters."""
    return storable_text(trim_end(text, MAX_TRACEBACK_LENGTH))


def recent_errors(errors: list[Any]) -> list[Any]:
    """The last ``MAX_ERRORS`` entries of ``errors``."""
    return errors[-MAX_ERRORS:]


def storable_json(value: Any) -> Any:
    """``value`` with every string (keys included) made storable; raises if JSON cannot hold it.

    Raises ``TypeError`` for a value JSON cannot encode and ``ValueError`` for NaN or
    Infinity, with JSON's message.
    """
    cleaned = _clean(value)
    json.dumps(cleaned, allow_nan=False)
    return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(key) if isinstance(key, str) else key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


def describe(exc: BaseException) -> str:
    """``"TypeName: message"`` for ``exc``, even when its ``str()`` fails."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception's __str__ is user code too
        text = "<the exception's message could not be read>"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
