"""``jobs_managed`` once per call from the API, the admin and the commands; ``job_enqueued`` per inserted job."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import timezone

from django_oban import api
from django_oban.managing import managed_by
from django_oban.models import Job, Node
from django_oban.queues import pause_queue
from django_oban.signals import jobs_managed
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.commands.conftest import run
from tests.conftest import make_job
from tests.workers import Noop

pytestmark = pytest.mark.django_db


def summary(sent: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(signal["sender"], signal["count"], signal["ids"], signal["source"], signal["user"]) for signal in sent]


def test_api_functions_send_one_signal_per_call_with_ids_when_rows_come_back(managed: list[dict[str, Any]]) -> None:
    done, failed, running = make_job(JobState.COMPLETED), make_job(JobState.DISCARDED), make_job(JobState.EXECUTING)
    api.retry_many_jobs([done, failed, running])  # instances: the rows come back
    api.cancel_many_jobs([done.pk, failed.pk, running.pk])  # ids: a count only
    api.update_many_jobs([done.pk, failed.pk], {"priority": 4})
    api.delete_many_jobs([done.pk, failed.pk, running.pk])
    assert summary(managed) == [
        ("retry", 2, [done.pk, failed.pk], "api", None),
        ("cancel", 3, None, "api", None),
        ("update", 2, [done.pk, failed.pk], "api", None),
        ("delete", 3, None, "api", None),  # the executing job was cancelled
    ]


def test_an_operation_made_of_others_and_a_model_method_are_reported_once_as_themselves(
    managed: list[dict[str, Any]],
) -> None:
    scheduled = make_job(JobState.SCHEDULED)
    assert Job.objects.filter(pk=scheduled.pk).run_now() == 1  # an update of scheduled_at
    scheduled.refresh_from_db()
    scheduled.cancel()
    assert Job.objects.filter(pk=scheduled.pk).perform("prune") == 1  # housekeeping: not reported
    assert summary(managed) == [("run_now", 1, None, "api", None), ("cancel", 1, [scheduled.pk], "api", None)]


def test_a_call_that_fails_or_is_undone_sends_nothing(managed: list[dict[str, Any]]) -> None:
    job = make_job(JobState.AVAILABLE)
    with pytest.raises(Job.DoesNotExist):
        api.update_many_jobs([job.pk, job.pk + 1000], {"priority": 4})  # the update is rolled back
    with pytest.raises(ValidationError):
        api.update_many_jobs([job.pk], {"priority": 99})
    assert managed == []
    assert Job.objects.get(pk=job.pk).priority == 0


def test_a_raising_receiver_is_logged_and_the_operation_stands(caplog: pytest.LogCaptureFixture) -> None:
    def fail(**kwargs: Any) -> None:
        raise RuntimeError("receiver down")

    job = make_job(JobState.AVAILABLE)
    jobs_managed.connect(fail, weak=False, dispatch_uid="failing")
    try:
        with caplog.at_level(logging.ERROR, logger="django_oban.signals"):
            assert api.cancel_many_jobs([job.pk]) == 1
    finally:
        jobs_managed.disconnect(dispatch_uid="failing")
    assert Job.objects.get(pk=job.pk).state == JobState.CANCELLED
    assert any("receiver down" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


def test_managed_by_gathers_a_surface_call_and_refuses_an_unknown_source(managed: list[dict[str, Any]]) -> None:
    jobs = [make_job(JobState.AVAILABLE) for _ in range(3)]
    with managed_by("command", user="ops"):
        for job in jobs:
            Job.objects.filter(pk=job.pk).cancel_returning()
        assert managed == []  # sent when the call ends
    assert summary(managed) == [("cancel", 3, [job.pk for job in jobs], "command", "ops")]
    with pytest.raises(ValueError, match="Unknown source 'cron'"), managed_by("cron"):
        pass


def test_admin_actions_and_buttons_send_one_signal_with_the_user(
    operator: Client, managed: list[dict[str, Any]]
) -> None:
    user = User.objects.get()
    jobs = [make_job(JobState.AVAILABLE), make_job(JobState.EXECUTING), make_job(JobState.COMPLETED)]
    selection = {"_selected_action": [job.pk for job in jobs]}
    operator.post(CHANGELIST, {"action": "cancel_jobs", **selection})
    operator.post(CHANGELIST, {"action": "update_jobs", "apply": "1", "priority": "3", **selection})
    operator.post(f"{CHANGELIST}{jobs[2].pk}/actions/retry_job/")
    operator.post(CHANGELIST, {"action": "delete_jobs", "post": "yes", **selection})
    assert summary(managed) == [
        ("cancel", 2, None, "admin", user),
        ("update", 3, None, "admin", user),
        ("retry", 1, None, "admin", user),
        ("delete", 3, None, "admin", user),
    ]


def test_commands_send_one_signal_per_run_whatever_the_batches(managed: list[dict[str, Any]]) -> None:
    jobs = [make_job(JobState.AVAILABLE) for _ in range(5)]
    ids = [str(job.pk) for job in jobs]
    run("oban_update", *ids, set_priority="2", batch_size="2")
    run("oban_cancel", *ids, batch_size="2")
    run("oban_retry", *ids, dry_run=True)  # a dry run changes nothing and says nothing
    run("oban_retry", *ids[:2])
    run("oban_delete", *ids, batch_size="1")
    assert summary(managed) == [
        ("update", 5, None, "command", None),
        ("cancel", 5, None, "command", None),
        ("retry", 2, None, "command", None),
        ("delete", 5, None, "command", None),
    ]


def test_job_enqueued_is_sent_for_each_inserted_job_not_for_a_duplicate(enqueued: list[dict[str, Any]]) -> None:
    first = Noop.enqueue({"n": 1})
    batch = api.insert_all([Noop.new({"n": 2}), Noop.new({"n": 3}, unique={}), Noop.new({"n": 3}, unique={})])
    assert [(signal["sender"], signal["job"].pk) for signal in enqueued] == [
        (Job, first.pk), (Job, batch[0].pk), (Job, batch[1].pk)
    ]
    assert batch[2].conflict and batch[2].pk == batch[1].pk


def test_queue_control_sends_one_signal_per_call_from_the_api_and_the_command(managed: list[dict[str, Any]]) -> None:
    now = timezone.now()
    Node.objects.create(name="web-1", started_at=now, heartbeat_at=now, queues={"mailers": {"limit": 5}})
    with override_settings(OBAN={"QUEUES": {"mailers": 5}}):
        pause_queue("mailers")
        run("oban_queue", "scale", "mailers", limit="3", node="web-1")
        with pytest.raises(CommandError):
            run("oban_queue", "resume", "typo")
    assert [(s["sender"], s["count"], s["source"], s["queue"], s["node"], s.get("paused"), s.get("limit"))
            for s in managed] == [
        ("pause", 1, "api", "mailers", None, True, None),
        ("scale", 1, "command", "mailers", "web-1", None, 3),
    ]
