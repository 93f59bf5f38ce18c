"""Shims over the differences between the supported Django versions."""

from __future__ import annotations

import django
from django.db import models


def check_constraint(condition: models.Q, name: str) -> models.CheckConstraint:
    """A ``CheckConstraint``; Django 5.1 renamed its ``check`` argument to ``condition``."""
    if django.VERSION >= (5, 1):
        return models.CheckConstraint(condition=condition, name=name)
    return models.CheckConstraint(check=condition, name=name)  # type: ignore[call-arg]
