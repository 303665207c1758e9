"""The no man's land counted per stage and kept per day (apps.measurement.services.backlog).

The fixture, at NOW (noon UTC of the current day), with the default limits MQL 3 days and SAL 7:

| lead | stage | owner | in stage | unowned | overdue | stuck |
|---|---|---|---|---|---|---|
| 3 leads | MQL | none | 1 day | yes | no | yes |
| 2 leads | MQL | rep | 4 days | no | yes | yes |
| 4 leads | MQL | rep | 1 day | no | no | no |
| 1 lead | SAL | none | 9 days | yes | yes | yes |
| 1 lead | SAL | rep | 2 days | no | no | no |
| customer | Customer | none | 90 days | not counted (not a working stage) | | |
| merged into it | MQL | none | 1 day | not counted (merged) | | |

MQL: open 9, unowned 3, overdue 2, stuck 5. SAL: open 2, unowned 1, overdue 1, stuck 1.
Totals: stuck 6, of which 4 have no owner.
"""

import datetime

import pytest

from apps.measurement import redflags, tasks
from apps.measurement.models import BacklogDay
from apps.measurement.services import backlog
from apps.records.models import Lead, LifecycleStage
from tests import factories

pytestmark = pytest.mark.django_db

# Noon (UTC) of the current day: the red flag counts at the real now, which is then within half a
# day of it, and no lead of the fixture is within half a day of its stage's limit.
NOW = datetime.datetime.now(datetime.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
TODAY = NOW.date()


@pytest.fixture
def org(db):
    return factories.make_org(time_zone="UTC")


def add(org, stage_key, count, *, owner=None, days=0, **fields):
    stage = LifecycleStage.objects.for_org(org).get(key=stage_key)
    return [
        Lead.objects.create(
            organization=org,
            email=f"{stage_key}-{days}-{owner is not None}-{i}-{len(fields)}@x.test",
            stage=stage,
            owner=owner,
            stage_entered_at=NOW - datetime.timedelta(days=days),
            **fields,
        )
        for i in range(count)
    ]


@pytest.fixture
def fixture(org):
    rep = factories.make_member(org)
    add(org, "mql", 3, days=1)
    add(org, "mql", 2, owner=rep, days=4)
    add(org, "mql", 4, owner=rep, days=1)
    add(org, "sal", 1, days=9)
    add(org, "sal", 1, owner=rep, days=2)
    (survivor,) = add(org, "customer", 1, days=90)
    add(org, "mql", 1, days=1, merged_into=survivor)
    return rep


def test_a_count_per_stage_matches_the_hand_count(org, fixture):
    counted = backlog.count(org, now=NOW)
    assert counted.day == TODAY
    assert counted.stages["mql"] == {"open": 9, "unowned": 3, "overdue": 2, "stuck": 5}
    assert counted.stages["sal"] == {"open": 2, "unowned": 1, "overdue": 1, "stuck": 1}
    assert counted.stages["sql"] == {"open": 0, "unowned": 0, "overdue": 0, "stuck": 0}
    assert "customer" not in counted.stages
    assert (counted.total("stuck"), counted.total("unowned")) == (6, 4)
    stored = dict(BacklogDay.objects.for_org(org).filter(day=TODAY).values_list("stage", "stuck"))
    assert stored["mql"] == 5 and stored["sal"] == 1


def test_a_recount_the_same_day_overwrites_it(org, fixture):
    backlog.count(org, now=NOW)
    add(org, "mql", 2, days=1)
    later = NOW + datetime.timedelta(hours=1)
    assert backlog.count(org, now=later).stages["mql"]["stuck"] == 7
    rows = BacklogDay.objects.for_org(org).filter(day=TODAY, stage="mql")
    assert [(row.stuck, row.counted_at) for row in rows] == [(7, later)]


def test_the_current_day_is_read_until_stale_then_recounted(org, fixture):
    backlog.count(org, now=NOW)
    add(org, "mql", 2, days=1)
    soon = NOW + backlog.STALE_AFTER - datetime.timedelta(minutes=1)
    assert backlog.for_day(org, TODAY, now=soon).total("stuck") == 6
    late = NOW + backlog.STALE_AFTER + datetime.timedelta(minutes=1)
    assert backlog.for_day(org, TODAY, now=late).total("stuck") == 8


def test_a_past_day_keeps_its_last_count(org, fixture):
    yesterday_evening = NOW - datetime.timedelta(hours=13)  # 23:00 the day before
    backlog.count(org, now=yesterday_evening)
    add(org, "mql", 20, days=1)
    past = backlog.for_day(org, TODAY - datetime.timedelta(days=1), now=NOW)
    assert past.counted_at == yesterday_evening
    # At 23:00 the day before, the two 4-day MQLs had waited 3 days 11 hours: already past their 3 days.
    assert past.stages["mql"]["stuck"] == 5
    assert backlog.for_day(org, TODAY - datetime.timedelta(days=2), now=NOW) is None


def test_the_red_flag_reads_the_stored_count(org, fixture):
    today = TODAY
    backlog.count(org)  # now
    add(org, "mql", 50, days=1)
    (flag,) = redflags.orphan_leads(org, today)
    assert flag.title == "6 leads in no man's land" and flag.severity == redflags.WARNING
    counted = BacklogDay.objects.for_org(org).values_list("counted_at", flat=True).first()
    assert flag.detail.endswith(f"Counted at {counted:%H:%M} on {counted:%d %b %Y} (UTC).")
    BacklogDay.objects.for_org(org).update(counted_at=NOW - datetime.timedelta(days=1000))
    (flag,) = redflags.orphan_leads(org, today)
    assert flag.title == "56 leads in no man's land" and flag.severity == redflags.CRITICAL


def test_the_red_flag_of_a_day_never_counted_reads_the_leads(org, fixture):
    (flag,) = redflags.orphan_leads(org, TODAY - datetime.timedelta(days=1))
    # At the end of the day before (12 hours before NOW) the table's counts hold: the two 4-day MQLs
    # had waited 3.5 days, past their 3.
    assert flag.title == "6 leads in no man's land" and flag.detail.startswith("4 have no owner and 2 have")
    assert "Counted at" not in flag.detail
    assert not BacklogDay.objects.for_org(org).exists()


def test_another_organisation_is_not_counted(org, fixture):
    other = factories.make_org(time_zone="UTC")
    add(other, "mql", 7, days=1)
    assert backlog.count(org, now=NOW).total("stuck") == 6
    assert backlog.count(other, now=NOW).total("stuck") == 7
    assert BacklogDay.objects.for_org(org).filter(stuck__gt=0).count() == 2


def test_the_task_counts_and_beat_runs_it(org, fixture):
    from revops.celery import app

    assert tasks.count_backlog(org.pk) == backlog.stored(org, TODAY).total("stuck")
    assert tasks.count_backlog(0) is None
    entries = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "measurement.count_backlogs" in entries
