"""Stage arithmetic from events, checked against hand-computed expectations."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.records import conditions, normalize, stages

FUNNEL = ["inquiry", "mql", "sal", "sql", "opportunity", "customer"]
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Event:
    from_stage: str
    to_stage: str
    at: datetime


def hours(n):
    return T0 + timedelta(hours=n)


# A lead captured at T0, qualified after 10 h, accepted 2 h later, recycled after
# 24 h, back to MQL 100 h later, then straight to SQL (skipping SAL this time)
# 5 h later, where it still is at "now" = T0 + 200 h.
HISTORY = [
    Event("", "inquiry", hours(0)),
    Event("inquiry", "mql", hours(10)),
    Event("mql", "sal", hours(12)),
    Event("sal", "recycled", hours(36)),
    Event("recycled", "mql", hours(136)),
    Event("mql", "sql", hours(141)),
]
NOW = hours(200)


def test_time_in_stage_sums_every_stay():
    totals = stages.time_in_stage(HISTORY, now=NOW)
    assert totals == {
        "inquiry": 10 * 3600,
        "mql": (2 + 5) * 3600,  # two stays: 10→12 and 136→141
        "sal": 24 * 3600,
        "recycled": 100 * 3600,
        "sql": 59 * 3600,  # open stay: 141 → 200
    }


def test_events_out_of_order_are_sorted_by_time():
    shuffled = [HISTORY[3], HISTORY[0], HISTORY[5], HISTORY[1], HISTORY[4], HISTORY[2]]
    assert stages.time_in_stage(shuffled, now=NOW) == stages.time_in_stage(HISTORY, now=NOW)


def test_reentry_is_detected():
    assert stages.entries(HISTORY)["mql"] == 2
    assert stages.reentered(HISTORY) == ["mql"]


def test_skipped_stages_are_the_ones_jumped_and_never_entered():
    # MQL → SQL jumps SAL, but SAL was entered earlier: not skipped.
    assert stages.skipped(HISTORY, FUNNEL) == []
    direct = [Event("", "inquiry", hours(0)), Event("inquiry", "sql", hours(3))]
    assert stages.skipped(direct, FUNNEL) == ["mql", "sal"]


def test_detours_do_not_count_as_skips():
    events = [Event("", "inquiry", hours(0)), Event("inquiry", "disqualified", hours(1))]
    assert stages.skipped(events, FUNNEL) == []


def test_last_interval_is_open():
    stays = stages.intervals(HISTORY)
    assert stays[-1].stage == "sql" and stays[-1].end is None
    assert [s.stage for s in stays] == ["inquiry", "mql", "sal", "recycled", "mql", "sql"]


def test_conditions():
    record = {"country": "FR", "employees": 250, "title": "VP Marketing", "phone": "", "custom.tier": "A"}
    assert conditions.matches([{"field": "country", "op": "in", "value": ["fr", "DE"]}], record)
    assert conditions.matches([{"field": "employees", "op": "gte", "value": "200"}], record)
    assert not conditions.matches([{"field": "employees", "op": "gt", "value": 250}], record)
    assert conditions.matches([{"field": "title", "op": "contains", "value": "marketing"}], record)
    assert conditions.matches([{"field": "phone", "op": "is_empty"}], record)
    assert conditions.matches([{"field": "custom.tier", "op": "equals", "value": "a"}], record)
    assert conditions.matches([{"field": "missing", "op": "not_equals", "value": "x"}], record)
    assert not conditions.matches([{"field": "missing", "op": "equals", "value": "x"}], record)
    assert not conditions.matches([], record)  # an empty rule moves nothing
    assert (
        conditions.describe({"field": "country", "op": "in", "value": ["FR", "DE"]})
        == "country is one of FR, DE"
    )


def test_condition_validation():
    import pytest

    with pytest.raises(conditions.ConditionError):
        conditions.validate([{"field": "x", "op": "like", "value": 1}])
    with pytest.raises(conditions.ConditionError):
        conditions.validate([{"field": "x", "op": "in", "value": "FR"}])
    assert conditions.validate([]) == []


def test_normalisation():
    assert normalize.normalize_email("  Ann.Lee@Acme.COM ") == "ann.lee@acme.com"
    assert normalize.normalize_domain("https://www.Acme.com/about?x=1") == "acme.com"
    assert normalize.normalize_domain("ann@sub.acme.co.uk") == "sub.acme.co.uk"
    assert normalize.normalize_domain("") == ""
    assert normalize.company_domain_of_email("bob@gmail.com") == ""
    assert normalize.company_domain_of_email("bob@acme.com") == "acme.com"
    assert normalize.company_key("Acme, Inc.") == normalize.company_key("ACME") == "acme"
