"""Lead segments as a dimension of the funnel: FunnelSegmentDay against counts worked out by hand.

The fixture is a UTC organisation with two lead segments that overlap on
Germany (times are March 2026, UTC):

    lead  country  segments         events
    a     FR       Europe           inquiry 2 09:00, mql 2 10:00, sal 3 10:00
    b     DE       Europe, DE & US  inquiry 2 12:00, mql 3 09:00, recycled 4 09:00, mql 5 09:00
    c     US       DE & US          inquiry 3 08:00, mql 4 08:00, sal 4 12:00, sql 5 12:00
    d     GB       (none)           inquiry 2 15:00, mql 2 16:00

Each segment counts its members: b counts in both, d in neither, so the
segments add up to more than b's share of the total and less than the total.
"""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.measurement.metrics import engine
from apps.measurement.models import FunnelSegmentDay, RollupState
from apps.measurement.services import rollup
from apps.records import services as records
from apps.strategy.services import segments
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

MARCH = {"from": "2026-03-01", "to": "2026-03-31", "grain": "month"}
START = dt.date(2026, 3, 1)
DAY = 86_400


def utc(day, hour):
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


def march(day):
    return dt.date(2026, 3, day)


def countries(org, key, name, codes):
    rule = {"name": "Country", "conditions": [{"field": "country", "op": "in", "value": codes}], "points": 1}
    return segments.segment_create(org=org, key=key, name=name, threshold=1, rules=[rule])


def lead(org, email, country, path):
    (_, created), *moves = path
    record = records.lead_create(org=org, email=email, country=country, captured_at=created)
    for stage, moment in moves:
        records.lead_change_stage(org=org, lead=record, to=stage, at=moment)
    return record


class World:
    pass


def build(org) -> World:
    world = World()
    world.org = org
    world.europe = countries(org, "europe", "Europe", ["FR", "DE"])
    world.de_us = countries(org, "de-us", "DE & US", ["DE", "US"])
    world.a = lead(org, "a@x.test", "FR", [("inquiry", utc(2, 9)), ("mql", utc(2, 10)), ("sal", utc(3, 10))])
    world.b = lead(
        org,
        "b@x.test",
        "DE",
        [("inquiry", utc(2, 12)), ("mql", utc(3, 9)), ("recycled", utc(4, 9)), ("mql", utc(5, 9))],
    )
    world.c = lead(
        org,
        "c@x.test",
        "US",
        [("inquiry", utc(3, 8)), ("mql", utc(4, 8)), ("sal", utc(4, 12)), ("sql", utc(5, 12))],
    )
    world.d = lead(org, "d@x.test", "GB", [("inquiry", utc(2, 15)), ("mql", utc(2, 16))])
    return world


@pytest.fixture
def world(db):
    return build(factories.make_org(time_zone="UTC"))


def rows(org) -> dict[tuple, tuple]:
    """(day, segment key, stage) -> (created, entries, first entries, re-entries, exits, exit seconds)."""
    return {
        (r.day, r.segment.key, r.stage): (
            r.created,
            r.entries,
            r.first_entries,
            r.reentries,
            r.exits,
            r.exit_seconds,
        )
        for r in FunnelSegmentDay.objects.for_org(org).select_related("segment")
    }


def everything(org) -> list[tuple]:
    """Every stored measure of every row (sketches included), for comparing two builds."""
    return sorted(
        FunnelSegmentDay.objects.for_org(org).values_list(
            "day", "segment_id", "stage", "created", "created_completeness", "entries", "first_entries",
            "reentries", "skips", "exits", "exit_seconds", "exit_sketch",
        ),
        key=repr,
    )  # fmt: skip


def by_segment(org, key, **values) -> dict[str, float]:
    metric, window, group_by, compare, params = engine.parse(key, {**MARCH, "group_by": "segment", **values})
    result = engine.evaluate(org, metric, window, group_by, compare, params)
    return {row["group_label"]: row["value"] for row in result.rows}


def total(org, key, **values) -> float:
    metric, window, group_by, compare, params = engine.parse(key, {**MARCH, **values})
    return engine.evaluate(org, metric, window, group_by, compare, params).total


def test_rows_count_each_member_under_each_of_its_segments(world):
    rollup.rollup(world.org, full=True)
    found = rows(world.org)
    # b is in both segments: its recycling and its MQL re-entry appear under each.
    for key in ("europe", "de-us"):
        assert found[march(4), key, "recycled"] == (0, 1, 1, 0, 0, 0)
        assert found[march(5), key, "recycled"] == (0, 0, 0, 0, 1, DAY)
        assert found[march(5), key, "mql"] == (0, 1, 0, 1, 0, 0)  # a re-entry, not a first entry
    # Creations: a and b on the 2nd in Europe (a left Inquiry after an hour); b on the 2nd and c on
    # the 3rd in DE & US.
    assert found[march(2), "europe", "inquiry"] == (2, 2, 2, 0, 1, 3600)
    assert found[march(2), "de-us", "inquiry"] == (1, 1, 1, 0, 0, 0)
    assert found[march(3), "de-us", "inquiry"] == (1, 1, 1, 0, 1, 21 * 3600)  # c created, b left
    # The 3rd: b's first MQL in both; a left MQL after a day (Europe only).
    assert found[march(3), "europe", "mql"] == (0, 1, 1, 0, 1, DAY)
    assert found[march(3), "de-us", "mql"] == (0, 1, 1, 0, 0, 0)
    # The 4th: b left MQL after a day in both; c entered and left it within 4 hours (DE & US only).
    assert found[march(4), "europe", "mql"] == (0, 0, 0, 0, 1, DAY)
    assert found[march(4), "de-us", "mql"] == (0, 1, 1, 0, 2, DAY + 4 * 3600)
    assert found[march(4), "de-us", "sal"] == (0, 1, 1, 0, 0, 0)
    assert (march(4), "europe", "sal") not in found
    # d (GB) is in no segment: the MQL on the 2nd is a's, in Europe only.
    assert found[march(2), "europe", "mql"] == (0, 1, 1, 0, 0, 0)
    assert (march(2), "de-us", "mql") not in found


def test_stage_counts_by_segment_by_hand(world):
    rollup.rollup(world.org, full=True)
    org = world.org
    assert by_segment(org, "leads") == {"Europe": 2, "DE & US": 2}
    assert by_segment(org, "mqls") == {"Europe": 2, "DE & US": 2}  # b's second MQL is a re-entry
    assert by_segment(org, "sals") == {"Europe": 1, "DE & US": 1}
    assert by_segment(org, "sqls") == {"DE & US": 1}  # a group appears where it has rows
    assert by_segment(org, "stage_conversion_period", from_stage="mql", to_stage="sal") == {
        "Europe": 50.0,
        "DE & US": 50.0,
    }
    # The ungrouped totals count every lead once, whatever its segments.
    assert (total(org, "leads"), total(org, "mqls")) == (4, 4)


def test_daily_series_by_segment(world):
    rollup.rollup(world.org, full=True)
    metric, window, group_by, compare, params = engine.parse(
        "leads", {"from": "2026-03-02", "to": "2026-03-04", "grain": "day", "group_by": "segment"}
    )
    result = engine.evaluate(world.org, metric, window, group_by, compare, params)
    series = {(row["period"].day, row["group_label"]): row["value"] for row in result.rows}
    assert series == {
        (2, "Europe"): 2, (3, "Europe"): 0, (4, "Europe"): 0,
        (2, "DE & US"): 1, (3, "DE & US"): 1, (4, "DE & US"): 0,
    }  # fmt: skip


def test_only_stage_counts_take_the_segment_dimension(world):
    for key in ("win_rate", "stage_conversion_cohort", "cost_per_lead", "speed_to_lead"):
        with pytest.raises(engine.QueryError) as error:
            engine.parse(key, {**MARCH, "group_by": "segment"})
        assert set(error.value.errors) == {"group_by"}


def _as_if_last_run_ended(org, moment):
    RollupState.objects.for_org(org).update(watermark=moment + rollup.OVERLAP)


def test_incremental_runs_equal_a_full_rebuild(world):
    org = world.org
    assert rollup.rollup(org).full
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)

    # a moves to Germany (joins DE & US on its write), and a late SQL for b.
    records.lead_update(org=org, lead=world.a, country="DE")
    records.lead_change_stage(org=org, lead=world.b, to="sql", at=utc(6, 9))
    result = rollup.rollup(org)
    assert not result.full
    assert by_segment(org, "leads") == {"Europe": 2, "DE & US": 3}
    assert by_segment(org, "sqls") == {"Europe": 1, "DE & US": 2}
    incremental = everything(org)
    rollup.rollup(org, full=True)
    assert everything(org) == incremental


def test_a_recomputed_segment_is_rebuilt_on_every_day(world):
    org = world.org
    rollup.rollup(org, full=True)
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)

    # The rule now takes in GB: d joins without being written, so none of its days is dirty.
    rule = {"name": "Country", "conditions": [{"field": "country", "op": "in", "value": ["DE", "US", "GB"]}],
            "points": 1}  # fmt: skip
    segments.segment_update(org=org, segment=world.de_us, rules=[rule])
    assert rollup.recomputed_segments(org, mark) == [world.de_us.pk]
    assert rollup.dirty_days_by_table(org, mark)["funnel"] == []
    rollup.rollup(org)
    assert by_segment(org, "mqls") == {"Europe": 2, "DE & US": 3}
    assert rows(org)[march(2), "de-us", "mql"] == (0, 1, 1, 0, 0, 0)  # d's
    incremental = everything(org)
    rollup.rollup(org, full=True)
    assert everything(org) == incremental


def test_deleting_a_segment_deletes_its_rows(world):
    rollup.rollup(world.org, full=True)
    segments.segment_delete(org=world.org, segment=world.europe)
    assert {key for _, key, _ in rows(world.org)} == {"de-us"}
    assert by_segment(world.org, "leads") == {"DE & US": 2}


def test_same_numbers_in_page_api_and_csv(world, client):
    org = world.org
    rollup.rollup(org, full=True)
    query = {**MARCH, "group_by": "segment"}
    api = api_client_for(org).get(reverse("api-metric-detail", args=["mqls"]), query)
    assert api.status_code == 200
    series = {row["group_label"]: (row["group"], row["value"]) for row in api.json()["series"]}
    assert series == {"Europe": (world.europe.pk, 2), "DE & US": (world.de_us.pk, 2)}
    assert api.json()["total"] == 4

    member = factories.make_member(org, role="revops_lead")
    client.force_login(member.user)
    page = client.get(reverse("measurement_metric", args=[org.slug, "mqls"]), query)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<td>Europe</td>" in html and "DE &amp; US" in html
    export = client.get(reverse("measurement_metric_export", args=[org.slug, "mqls"]), query)
    found = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert found[0] == ["metric", "period", "group", "value"]
    assert sorted(found[1:]) == [
        ["mqls", "2026-03-01", "DE & US", "2.0"],
        ["mqls", "2026-03-01", "Europe", "2.0"],
    ]


def test_another_organisations_segments_never_appear(world):
    other = build(factories.make_org(time_zone="UTC"))
    rollup.rollup(world.org, full=True)
    rollup.rollup(other.org, full=True)
    mine = {world.europe.pk, world.de_us.pk}
    assert set(FunnelSegmentDay.objects.for_org(world.org).values_list("segment_id", flat=True)) == mine
    metric, window, group_by, compare, params = engine.parse("leads", {**MARCH, "group_by": "segment"})
    result = engine.evaluate(world.org, metric, window, group_by, compare, params)
    assert {row["group"] for row in result.rows} == mine
    # Rebuilding one organisation leaves the other's rows alone.
    before = everything(other.org)
    segments.segment_delete(org=world.org, segment=world.europe)
    rollup.rollup(world.org, full=True)
    assert everything(other.org) == before
    api = api_client_for(world.org).get(
        reverse("api-metric-detail", args=["leads"]), {**MARCH, "group_by": "segment"}
    )
    assert {row["group"] for row in api.json()["series"]} == {world.de_us.pk}
