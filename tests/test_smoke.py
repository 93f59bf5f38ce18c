import pytest
from django_oban.models import Job
from django_oban import JobState, cancel_job, update_many_jobs, retry_many_jobs


@pytest.mark.django_db
def test_smoke():
    j = Job.objects.create(worker="a.B", tags=[" X", "x", "b"])
    assert j.tags == ["b", "x"]
    cancel_job(j)
    assert j.state == JobState.CANCELLED
    j2 = Job.objects.create(worker="a.B", attempt=20, state="discarded")
    assert retry_many_jobs([j2]) == 1
    assert j2.max_attempts == 21 and j2.state == "available"
    out = update_many_jobs([j2.pk, j.pk], {"priority": 3, "schedule_in": 60})
    assert [o.pk for o in out] == [j2.pk, j.pk]
    assert out[0].state == "scheduled", out[0].state
    assert out[1].state == "cancelled"
    out = update_many_jobs([j2.pk], lambda job: {"tags": job.tags + ["New"]})
    assert out[0].tags == ["new"]
    assert Job.objects.tagged("NEW").count() == 1
    print(Job.objects.stats())
    assert Job.objects.all().delete()[0] == 2


@pytest.mark.django_db
def test_smoke_prune_skipped():
    from datetime import timedelta
    from django.utils import timezone
    old = timezone.now() - timedelta(days=30)
    for _ in range(5):
        Job.objects.create(worker="a.B", state="completed", completed_at=old)
    Job.objects.create(worker="a.B", state="completed", completed_at=timezone.now())
    Job.objects.create(worker="a.B", state="executing")
    assert Job.objects.skipped_by("cancel") == {"completed": 6}
    assert Job.objects.skipped_by("delete") == {"executing": 1}
    assert Job.objects.prune(3600, batch_size=2) == 5
    assert Job.objects.count() == 2
