from __future__ import annotations

import pytest

from . import tasks


@pytest.fixture(autouse=True)
def _clear_calls():
    tasks.CALLS.clear()
    yield
    tasks.CALLS.clear()
