"""The report metrics as pure functions: no database, hand-computed expectations."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.execution import metrics
from apps.execution.metrics import Offer, Timer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def offer(pk, lead, *, offered, captured=T0, rep=1, team=None, source="Paid Search", **fields) -> Offer:
    return Offer(
        id=pk,
        lead_id=lead,
        assignee_id=rep,
        pool_id=None,
        team_id=team,
        source=source,
        campaign=fields.pop("campaign", metrics.NO_CAMPAIGN),
        status=fields.pop("status", "accepted"),
        captured_at=captured,
        offered_at=offered,
        **fields,
    )


def timer(pk, *, status, due, met=None, breached=None, clock="accept", rep=1, team=None, source="x"):
    return Timer(pk, 1, clock, rep, team, source, status, due, met, breached)


# --- Percentiles -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),  # rank 3 * 0.5 = 1.5: halfway between 2 and 3
        ([1, 2, 3, 4], 90, 3.7),  # rank 3 * 0.9 = 2.7: 3 + 0.7 * (4 - 3)
        ([4, 1, 3, 2], 90, 3.7),  # order of the input does not matter
        ([0, 10], 90, 9.0),  # rank 0.9: 0 + 0.9 * 10
        ([7], 50, 7),
        ([7], 90, 7),
        ([120, 120, 360, 1800], 50, 240.0),  # rank 1.5: 120 + 0.5 * 240
        ([120, 120, 360, 1800], 90, 1368.0),  # rank 2.7: 360 + 0.7 * 1440
        ([5, 1, 9], 0, 1),
        ([5, 1, 9], 100, 9),
    ],
)
def test_percentile_interpolates_linearly_between_the_nearest_ranks(values, p, expected):
    assert metrics.percentile(values, p) == pytest.approx(expected)


def test_percentile_matches_numpys_default_method():
    np = pytest.importorskip("numpy")
    values = [3.5, 120, 7, 7, 61, 0.25, 900, 45]
    for p in (10, 25, 50, 75, 90, 99):
        assert metrics.percentile(values, p) == pytest.approx(float(np.percentile(values, p)))


def test_percentile_of_nothing_is_none_and_ignores_missing_values():
    assert metrics.percentile([], 50) is None
    assert metrics.percentile([None, None], 90) is None
    assert metrics.percentile([None, 4, 2], 50) == 3.0
    with pytest.raises(ValueError):
        metrics.percentile([1], 150)


def test_spread_counts_only_measured_values():
    s = metrics.spread([None, 30, 10, None, 20])
    assert (s.count, s.p50, s.p90) == (3, 20, 28)  # p90: rank 1.8 → 20 + 0.8 * 10


def test_rounding_is_one_decimal_halves_up():
    assert metrics.round1(12.25) == 12.3  # round() would give 12.2 (to even)
    assert metrics.round1(10.75) == 10.8
    assert metrics.as_minutes(645) == 10.8  # 10.75 min
    assert metrics.as_percent(2 / 3) == 66.7
    assert metrics.as_percent(1 / 3) == 33.3
    assert metrics.as_percent(None) is None
    assert metrics.rate(1, 0) is None  # nothing to divide by: "—", never 0%


def test_source_falls_back_from_channel_to_raw_source():
    assert metrics.source_of("Paid Search", "google") == "Paid Search"
    assert metrics.source_of("", "webinar") == "webinar"
    assert metrics.source_of("", "") == metrics.NO_SOURCE


# --- Offers and leads --------------------------------------------------------------


def test_response_times_of_an_offer():
    o = offer(1, 1, offered=at(seconds=30), accepted_at=at(seconds=150), first_touch_at=at(minutes=6))
    assert o.time_to_accept == 120  # 09:02:30 - 09:00:30
    assert o.time_to_first_touch == 330  # 09:06:00 - 09:00:30
    assert offer(2, 1, offered=at(), status="offered").time_to_accept is None


def test_lead_speed_uses_the_first_offer_and_the_first_touch_across_offers():
    # Lead 1 captured 09:00: offered to rep 2 at 09:01 (rejected), then to rep 1 at 09:04,
    # who touched it at 09:20. Latency 60 s; speed-to-lead 20 min, credited to rep 1.
    rejected = offer(1, 1, offered=at(1), rep=2, status="rejected")
    accepted = offer(2, 1, offered=at(4), rep=1, accepted_at=at(10), first_touch_at=at(20))
    (speed,) = metrics.lead_speeds([accepted, rejected])
    assert speed.first_offer is rejected
    assert speed.first_touch is accepted
    assert speed.system_latency == 60
    assert speed.speed_to_lead == 1200


def test_a_lead_never_touched_has_no_speed_to_lead():
    (speed,) = metrics.lead_speeds([offer(1, 9, offered=at(seconds=10), status="offered")])
    assert speed.system_latency == 10
    assert speed.speed_to_lead is None


def test_filters_match_team_rep_and_source():
    o = offer(1, 1, offered=at(), rep=3, team=7, source="Organic")
    assert metrics.keep(o)
    assert metrics.keep(o, team=7, rep=3, source="Organic")
    assert not metrics.keep(o, team=8)
    assert not metrics.keep(o, rep=4)
    assert not metrics.keep(o, source="Paid Search")


def test_daily_medians_use_the_local_day():
    paris = ZoneInfo("Europe/Paris")
    # 23:30 UTC on 1 March is 00:30 on 2 March in Paris (UTC+1).
    late_at, early_at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC), datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    late = offer(1, 1, offered=late_at, accepted_at=late_at + timedelta(minutes=4))
    early = offer(2, 2, offered=early_at, accepted_at=early_at + timedelta(minutes=2))
    medians = metrics.daily_medians(
        [late, early],
        when=lambda o: o.offered_at,
        value=lambda o: o.time_to_accept,
        tz=paris,
        start=date(2026, 3, 1),
        end=date(2026, 3, 3),
    )
    # 1 March: nothing; 2 March: median of 240 s and 120 s = 180 s; 3 March: nothing.
    assert medians == [None, 180.0, None]


def test_period_bounds_are_whole_local_days():
    paris = ZoneInfo("Europe/Paris")
    start, end = metrics.period_bounds(date(2026, 3, 1), date(2026, 3, 31), paris)
    assert start == datetime(2026, 3, 1, tzinfo=paris)
    assert end == datetime(2026, 4, 1, tzinfo=paris)  # 31 March included
    # Summer time began on 29 March: 21:59 UTC on the 31st is 23:59 in Paris, 22:00 UTC is 1 April.
    assert start <= datetime(2026, 3, 31, 21, 59, tzinfo=UTC) < end
    assert datetime(2026, 3, 31, 22, 0, tzinfo=UTC) == end
    assert start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)  # still winter time on 1 March


# --- SLA compliance ------------------------------------------------------------------


def test_timer_outcomes():
    due = at(5)
    assert timer(1, status="met", due=due, met=at(3)).outcome == metrics.MET
    assert timer(2, status="met", due=due, met=due).outcome == metrics.MET  # exactly on time counts
    assert timer(3, status="breached", due=due, met=at(6), breached=due).outcome == metrics.BREACHED
    assert timer(4, status="breached", due=due, breached=due).outcome == metrics.BREACHED
    assert timer(5, status="cancelled", due=due).outcome == metrics.EXCLUDED
    assert timer(6, status="running", due=due).outcome == metrics.EXCLUDED


def test_compliance_is_met_on_time_over_outcomes_per_clock():
    due = at(5)
    timers = [
        timer(1, status="met", due=due, met=at(2)),
        timer(2, status="met", due=due, met=at(4)),
        timer(3, status="breached", due=due, breached=due),
        timer(4, status="cancelled", due=due),
        timer(5, status="running", due=at(60)),
        timer(6, status="breached", due=due, breached=due, clock="first_touch"),
        timer(7, status="met", due=due, met=at(1), clock="first_touch", rep=2),
    ]
    accept = metrics.compliance(t for t in timers if t.clock == "accept")
    # 2 met on time ÷ (2 met + 1 breached) = 2/3; the cancelled and the running timer are not counted.
    assert (accept.met, accept.breached, accept.excluded) == (2, 1, 2)
    assert metrics.as_percent(accept.rate) == 66.7
    by_rep = metrics.compliance_by(timers, lambda t: t.assignee_id)
    assert by_rep[(1, "first_touch")].rate == 0  # 0 ÷ 1
    assert by_rep[(2, "first_touch")].rate == 1  # 1 ÷ 1
    assert metrics.compliance([timer(8, status="cancelled", due=due)]).rate is None


# --- Rejections and fairness ---------------------------------------------------------


def test_reject_rate_and_reasons():
    offers = [
        offer(1, 1, offered=at(), status="rejected", reject_reason="Duplicate", reject_reason_order=2),
        offer(2, 2, offered=at(), status="rejected", reject_reason="Not ICP", reject_reason_order=1),
        offer(3, 3, offered=at(), status="rejected", reject_reason="Not ICP", reject_reason_order=1),
        offer(4, 4, offered=at(), status="accepted"),
    ]
    r = metrics.rejections(offers)
    assert (r.offered, r.rejected, r.reasons) == (4, 3, {"Duplicate": 1, "Not ICP": 2})
    assert r.rate == 0.75  # 3 ÷ 4
    assert metrics.reason_labels(offers) == ["Not ICP", "Duplicate"]  # the organisation's order
    assert metrics.rejections([]).rate is None


def test_fairness_shares():
    entries = [
        metrics.LedgerEntry(1, 10, True, 2, 3, 0, 0, 1.5),
        metrics.LedgerEntry(1, 11, True, 1, 2, 2, 2, 0.0),
        metrics.LedgerEntry(1, 12, False, 1, 5, 0, 0, 4.0),
    ]
    # Weights of active members: 2 + 1 = 3; the inactive member has no expected share.
    assert metrics.weight_shares(entries) == {10: 2 / 3, 11: 1 / 3, 12: None}
    # Assignments on the ledger: 3 + 2 + 5 = 10, whoever is still active.
    assert metrics.assignment_shares(entries) == {10: 0.3, 11: 0.2, 12: 0.5}


# --- Charts --------------------------------------------------------------------------


def test_charts_are_plotly_json_or_none_without_data():
    assert metrics.daily_medians_chart(dates=[date(2026, 3, 1)], series={"Time to accept": [None]}) is None
    chart = json.loads(
        metrics.daily_medians_chart(dates=[date(2026, 3, 1)], series={"Time to accept": [2.0]})
    )
    assert chart["data"][0]["y"] == [2.0]
    assert chart["data"][0]["x"] == ["2026-03-01"]
    assert metrics.response_histogram(series={"Time to accept": []}) is None
    histogram = json.loads(metrics.response_histogram(series={"Time to accept": [1.0, 2.0]}))
    assert histogram["data"][0]["type"] == "histogram"
    assert metrics.grouped_bar_chart(title="t", x=[], series={}, y_title="") is None
