from __future__ import annotations

import pytest
from django.db import connection

from django_oban.cron.slots import TABLE


@pytest.fixture
def clean_slots():
    """Empty ``oban_cron_slots`` after a transactional test (its flush empties only the models' tables)."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")
