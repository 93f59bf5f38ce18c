"""The demo command of the README's Quickstart (without starting the server)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from django_oban import JobState
from django_oban.models import Job


@pytest.mark.django_db
def test_demo_sets_up_sample_jobs_and_an_admin_login(capsys):
    call_command("demo", "--no-server")
    call_command("demo", "--no-server")  # a second run adds nothing

    states = set(Job.objects.values_list("state", flat=True))
    assert states == set(JobState.values) - {JobState.EXECUTING}
    assert Job.objects.count() == 32  # 12 and the trickle of 20 welcome emails for the Queues page
    assert get_user_model().objects.get(username="admin").check_password("admin")
    out = capsys.readouterr().out
    assert "password 'admin'" in out and "/admin/django_oban/job/queues/" in out
