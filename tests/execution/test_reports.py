"""The speed, SLA, rejection and fairness reports against a small world with exact timestamps.

Every expected number below is worked out by hand in the comment next to it.
The world (all times UTC, the organisation's time zone; the period is March 2026):

lead  captured            source (channel)         campaign   offers
L1    02 Mar 09:00:00     Paid Search              spring     A1 Ana
L2    02 Mar 10:00:00     Paid Search              spring     A2 Bo (rejected: Not ICP), A3 Ana
L3    03 Mar 09:00:00     webinar (raw, no channel) —          A4 Cy
L4    03 Mar 12:00:00     Organic                  brand      A5 Bo (rejected: Duplicate), A6 Cy (open)
L5    27 Feb 08:00:00     Referral                 —          A7 Ana   (captured before the period)

offer  rep  pool (team)          offered    accepted   first touch  engine
A1     Ana  Inbound (Inbound)    09:00:30   09:02:30   09:06:00     12 ms
A2     Bo   Inbound              10:01:00   —          —            —
A3     Ana  Inbound              10:04:00   10:10:00   10:20:00     20 ms
A4     Cy   Outbound (Outbound)  09:00:10   09:30:10   —            8 ms
A5     Bo   Inbound              12:02:00   —          —            —
A6     Cy   Outbound             12:06:00   —          —            —
A7     Ana  Inbound              01 Mar 00:10:00, accepted 00:12:00, first touch 00:40:00
"""

import csv
import io
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from apps.audit.models import SecurityEvent
from apps.execution.models import (
    Assignment,
    PoolMember,
    RejectReason,
    RoutingDecision,
    RoutingPool,
    SlaPolicy,
    SlaTimer,
)
from apps.records.models import Lead
from tests.execution.conftest import make_rep, new_lead

pytestmark = pytest.mark.django_db

PERIOD = {"start": "2026-03-01", "end": "2026-03-31"}
PAGES = (
    "execution_reports",
    "execution_sla_report",
    "execution_rejections_report",
    "execution_fairness_report",
)


def t(day, hour, minute=0, second=0):
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def lead(org, captured, *, channel="", source="", campaign=""):
    made = new_lead(org, captured_at=captured, source=source, utm_campaign=campaign)
    # Pin the channel: the organisation's source mappings must not decide what this test means.
    Lead.objects.filter(pk=made.pk).update(channel=channel)
    made.refresh_from_db()
    return made


def offer(org, lead, rep, pool, offered, *, status="accepted", accepted=None, touched=None, reason=None,
          decide_ms=None):  # fmt: skip
    decision = None
    if decide_ms is not None:
        decision = RoutingDecision.objects.create(
            organization=org, lead=lead, trigger="created", outcome="assigned", assignee=rep, pool=pool,
            timings={"queued_ms": 3, "decide_ms": decide_ms},
        )  # fmt: skip
    return Assignment.objects.create(
        organization=org, lead=lead, decision=decision, assignee=rep, pool=pool, status=status,
        offered_at=offered, accepted_at=accepted, first_touch_at=touched, reject_reason=reason,
        rejected_at=offered + timedelta(minutes=2) if reason else None,
    )  # fmt: skip


def sla_timer(org, policy, assignment, due, *, status, met=None, breached=None):
    return SlaTimer.objects.create(
        organization=org, policy=policy, assignment=assignment, lead=assignment.lead,
        assignee=assignment.assignee, clock=policy.clock, status=status, started_at=assignment.offered_at,
        due_at=due, met_at=met, breached_at=breached,
    )  # fmt: skip


@pytest.fixture
def world(org):
    ana, bo, cy = (make_rep(org, name) for name in ("Ana Ruiz", "Bo Lind", "Cy Chan"))
    dee = make_rep(org, "Dee Park")
    inbound_team = account_services.team_create(org=org, name="Inbound")
    outbound_team = account_services.team_create(org=org, name="Outbound")
    inbound = RoutingPool.objects.create(organization=org, name="Inbound", team=inbound_team)
    outbound = RoutingPool.objects.create(organization=org, name="Outbound", team=outbound_team)
    # The fairness ledger as routing left it.
    for pool, rep, active, weight, assigned, rejected, credits, pass_value in [
        (inbound, ana, True, 2, 3, 0, 0, 1.5),
        (inbound, bo, True, 1, 2, 2, 2, 0.0),
        (inbound, dee, False, 1, 5, 0, 0, 4.0),
        (outbound, cy, True, 1, 2, 0, 0, 2.0),
    ]:
        PoolMember.objects.create(
            organization=org, pool=pool, membership=rep, is_active=active, weight=weight,
            assigned_count=assigned, rejected_count=rejected, credits=credits, pass_value=pass_value,
        )  # fmt: skip
    not_icp = RejectReason.objects.create(organization=org, key="t_not_icp", label="Not ICP", order=901)
    duplicate = RejectReason.objects.create(organization=org, key="t_duplicate", label="Duplicate", order=902)

    l1 = lead(org, t(2, 9), channel="Paid Search", campaign="spring")
    l2 = lead(org, t(2, 10), channel="Paid Search", campaign="spring")
    l3 = lead(org, t(3, 9), source="webinar")
    l4 = lead(org, t(3, 12), channel="Organic", campaign="brand")
    l5 = lead(org, datetime(2026, 2, 27, 8, tzinfo=UTC), channel="Referral")

    a1 = offer(
        org, l1, ana, inbound, t(2, 9, 0, 30), accepted=t(2, 9, 2, 30), touched=t(2, 9, 6), decide_ms=12
    )
    a2 = offer(org, l2, bo, inbound, t(2, 10, 1), status="rejected", reason=not_icp)
    a3 = offer(org, l2, ana, inbound, t(2, 10, 4), accepted=t(2, 10, 10), touched=t(2, 10, 20), decide_ms=20)
    a4 = offer(org, l3, cy, outbound, t(3, 9, 0, 10), accepted=t(3, 9, 30, 10), decide_ms=8)
    a5 = offer(org, l4, bo, inbound, t(3, 12, 2), status="rejected", reason=duplicate)
    a6 = offer(org, l4, cy, outbound, t(3, 12, 6), status="offered")
    a7 = offer(org, l5, ana, inbound, t(1, 0, 10), accepted=t(1, 0, 12), touched=t(1, 0, 40))

    accept = SlaPolicy.objects.create(
        organization=org, name="Accept in 5 min", clock="accept", target_minutes=5
    )
    touch = SlaPolicy.objects.create(
        organization=org, name="Touch in 15 min", clock="first_touch", target_minutes=15
    )
    # Timers: due = offered + 5 min (accept) or + 15 min (first touch).
    sla_timer(org, accept, a1, t(2, 9, 5, 30), status="met", met=t(2, 9, 2, 30))  # T1 met on time
    sla_timer(org, touch, a1, t(2, 9, 15, 30), status="met", met=t(2, 9, 6))  # T2 met on time
    sla_timer(org, accept, a2, t(2, 10, 6), status="cancelled")  # T3 rejected first: not counted
    late = {"status": "breached"}
    sla_timer(org, accept, a3, t(2, 10, 9), met=t(2, 10, 10), breached=t(2, 10, 9), **late)  # T4 late
    sla_timer(org, touch, a3, t(2, 10, 19), met=t(2, 10, 20), breached=t(2, 10, 19), **late)  # T5 late
    sla_timer(org, accept, a4, t(3, 9, 5, 10), met=t(3, 9, 30, 10), breached=t(3, 9, 5, 10), **late)  # T6
    sla_timer(org, touch, a4, t(3, 9, 15, 10), breached=t(3, 9, 15, 10), **late)  # T7 never touched
    sla_timer(org, accept, a5, t(3, 12, 7), status="cancelled")  # T8 rejected first: not counted
    sla_timer(org, accept, a6, t(3, 12, 11), status="running")  # T9 still running: not counted
    sla_timer(org, accept, a7, t(1, 0, 15), status="met", met=t(1, 0, 12))  # T10 met on time
    sla_timer(org, touch, a7, t(1, 0, 25), met=t(1, 0, 40), breached=t(1, 0, 25), **late)  # T11 late

    # Outside the period: an offer and a timer in February, which no report may count.
    l0 = lead(org, datetime(2026, 2, 10, 9, tzinfo=UTC), channel="Paid Search")
    a0 = offer(
        org, l0, bo, inbound, datetime(2026, 2, 10, 9, 1, tzinfo=UTC), status="rejected", reason=not_icp
    )
    sla_timer(
        org, accept, a0, a0.offered_at + timedelta(minutes=5), status="breached", breached=a0.offered_at
    )
    return {"ana": ana, "bo": bo, "cy": cy, "dee": dee, "inbound": inbound_team, "outbound": outbound_team}


@pytest.fixture
def intruder(other_org):
    """Another organisation's offer and timer in the same period: never counted here."""
    rep = make_rep(other_org, "Ivan Intruder")
    pool = RoutingPool.objects.create(organization=other_org, name="Inbound")
    PoolMember.objects.create(organization=other_org, pool=pool, membership=rep, assigned_count=99)
    their_lead = lead(other_org, t(2, 9), channel="Paid Search")
    a = offer(other_org, their_lead, rep, pool, t(2, 9, 0, 1), accepted=t(2, 9, 59), touched=t(2, 9, 59))
    policy = SlaPolicy.objects.create(
        organization=other_org, name="Accept in 5 min", clock="accept", target_minutes=5
    )
    sla_timer(other_org, policy, a, t(2, 9, 5, 1), status="breached", breached=t(2, 9, 5, 1))
    return rep


# --- Reading a page and its export ------------------------------------------------------


class _TableReader(HTMLParser):
    """The text of every row of <section id="table-KEY">, header row first, "—" for empty cells."""

    def __init__(self, key):
        super().__init__()
        self.key, self.depth, self.rows, self.cell = key, 0, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth:
            self.depth += tag == "section"
        elif tag == "section" and attrs.get("id") == f"table-{self.key}":
            self.depth = 1
        if self.depth and tag == "tr":
            self.rows.append([])
        if self.depth and tag in ("th", "td"):
            self.cell = []

    def handle_endtag(self, tag):
        if self.depth and tag in ("th", "td") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        if self.depth and tag == "section":
            self.depth -= 1

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page_table(response, key) -> list[list[str]]:
    reader = _TableReader(key)
    reader.feed(response.content.decode())
    assert reader.rows, f"no table {key!r} on the page"
    return reader.rows


def csv_table(client, name, key, **params) -> list[list[str]]:
    response = client.get(reverse(name, args=["acme"]), {**PERIOD, **params, "format": "csv", "table": key})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def page_and_csv(client, name, key, **params):
    """The table as the page shows it and as the export streams it; they must be the same."""
    page = page_table(client.get(reverse(name, args=["acme"]), {**PERIOD, **params}), key)
    exported = csv_table(client, name, key, **params)
    assert page == [[cell or "—" for cell in row] for row in exported]
    return exported


def row(table, *first) -> list[str]:
    """The row starting with these cells."""
    matches = [r for r in table if r[: len(first)] == list(first)]
    assert len(matches) == 1, (first, table)
    return matches[0]


# --- Speed to lead ---------------------------------------------------------------------


def test_speed_summary(owner_client, world, intruder):
    summary = page_and_csv(owner_client, "execution_reports", "summary")
    assert summary[0] == ["Measure", "Counted over", "Measured", "p50", "p90"]
    # System latency per lead captured in March (L5 was captured in February):
    # L1 30 s, L2 60 s (its first offer, A2, at 10:01), L3 10 s, L4 120 s → [10, 30, 60, 120]
    # p50: rank 1.5 → 30 + 0.5 * 30 = 45.0; p90: rank 2.7 → 60 + 0.7 * 60 = 102.0.
    assert row(summary, "System latency: capture → first offer (seconds)")[2:] == ["4", "45.0", "102.0"]
    # Engine time of the decisions behind March's offers: [8, 12, 20] ms → p50 12.0;
    # p90 rank 1.8 → 12 + 0.8 * 8 = 18.4.
    assert row(summary, "Routing engine time per decision (milliseconds)")[2:] == ["3", "12.0", "18.4"]
    # Time to accept over accepted March offers: A1 120 s, A3 360 s, A4 1800 s, A7 120 s
    # → [120, 120, 360, 1800].
    # p50: rank 1.5 → 120 + 0.5 * 240 = 240 s = 4.0 min; p90: rank 2.7 → 360 + 0.7 * 1440 = 1368 s = 22.8 min.
    assert row(summary, "Time to accept: offer → accept (minutes)")[2:] == ["4", "4.0", "22.8"]
    # Time to first touch: A1 330 s, A3 960 s, A7 1800 s → p50 960 s = 16.0 min;
    # p90: rank 1.8 → 960 + 0.8 * 840 = 1632 s = 27.2 min.
    assert row(summary, "Time to first touch: offer → first touch (minutes)")[2:] == ["3", "16.0", "27.2"]
    # Speed-to-lead per lead captured in March: L1 09:06 - 09:00 = 360 s, L2 10:20 - 10:00 = 1200 s
    # (L3 and L4 were never touched) → p50 780 s = 13.0 min;
    # p90 rank 0.9 → 360 + 0.9 * 840 = 1116 s = 18.6 min.
    assert row(summary, "Speed-to-lead: capture → first human touch (minutes)")[2:] == ["2", "13.0", "18.6"]


def test_speed_by_rep_team_and_source(owner_client, world):
    by_rep = page_and_csv(owner_client, "execution_reports", "rep")
    # Ana: offers A1, A3, A7. Accept [120, 360, 120] s → p50 120 s = 2.0 min, p90 rank 1.8 → 120 + 0.8 * 240
    # = 312 s = 5.2 min. Touch [330, 960, 1800] → 16.0 / 27.2. First touches of L1 and L2 → 13.0 / 18.6.
    assert row(by_rep, "Ana Ruiz") == [
        "Ana Ruiz",
        "3",
        "3",
        "2.0",
        "5.2",
        "3",
        "16.0",
        "27.2",
        "2",
        "13.0",
        "18.6",
    ]
    # Bo: two offers, both rejected: nothing to measure.
    assert row(by_rep, "Bo Lind") == ["Bo Lind", "2", "0", "", "", "0", "", "", "0", "", ""]
    # Cy: A4 accepted after 1800 s = 30.0 min; A6 still open.
    assert row(by_rep, "Cy Chan") == ["Cy Chan", "2", "1", "30.0", "30.0", "0", "", "", "0", "", ""]
    by_team = page_and_csv(owner_client, "execution_reports", "team")
    assert [r[:3] for r in by_team[1:]] == [
        ["Inbound", "5", "3"],
        ["Outbound", "2", "1"],
    ]  # A1-3, A5, A7 | A4, A6
    by_source = page_and_csv(owner_client, "execution_reports", "source")
    # Sorted ignoring case: Organic (A5, A6), Paid Search (A1-A3), Referral (A7), webinar (A4).
    assert [r[:2] for r in by_source[1:]] == [
        ["Organic", "2"],
        ["Paid Search", "3"],
        ["Referral", "1"],
        ["webinar", "1"],
    ]


def test_speed_daily_medians(owner_client, world):
    daily = page_and_csv(owner_client, "execution_reports", "daily")
    # 1 Mar: A7 accepted after 2.0 min, touched after 30.0 min; no lead captured that day was touched.
    assert row(daily, "2026-03-01") == ["2026-03-01", "1", "2.0", "30.0", "0", ""]
    # 2 Mar: A1-A3 offered; accept median of [120, 360] s = 240 s = 4.0 min; touch median of
    # [330, 960] s = 645 s = 10.75 min → 10.8 (halves round up); speed-to-lead of L1 and L2:
    # median (360 + 1200) ÷ 2 = 780 s = 13.0 min.
    assert row(daily, "2026-03-02") == ["2026-03-02", "3", "4.0", "10.8", "2", "13.0"]
    # 3 Mar: A4-A6 offered; only A4 accepted (30.0 min); nothing touched.
    assert row(daily, "2026-03-03") == ["2026-03-03", "3", "30.0", "", "0", ""]
    assert len(daily) == 4  # header + the three days with something measured


def test_speed_filters(owner_client, world):
    # Bo was first offered L2 (60 s) and L4 (120 s): p50 90.0 s; p90 rank 0.9 → 60 + 0.9 * 60 = 114.0 s.
    summary = page_and_csv(owner_client, "execution_reports", "summary", rep=world["bo"].pk)
    assert row(summary, "System latency: capture → first offer (seconds)")[2:] == ["2", "90.0", "114.0"]
    assert row(summary, "Time to accept: offer → accept (minutes)")[2:] == ["0", "", ""]
    # The webinar lead L3: offered after 10 s, accepted by Cy after 30.0 min.
    summary = page_and_csv(owner_client, "execution_reports", "summary", source="webinar")
    assert row(summary, "System latency: capture → first offer (seconds)")[2:] == ["1", "10.0", "10.0"]
    assert row(summary, "Time to accept: offer → accept (minutes)")[2:] == ["1", "30.0", "30.0"]
    # The Outbound team's pool made A4 and A6.
    by_rep = page_and_csv(owner_client, "execution_reports", "rep", team=world["outbound"].pk)
    assert [r[0] for r in by_rep[1:]] == ["Cy Chan"]


def test_speed_page_has_charts_and_period(owner_client, world):
    response = owner_client.get(reverse("execution_reports", args=["acme"]), PERIOD)
    body = response.content.decode()
    assert 'data-chart="speed-daily"' in body
    assert 'data-chart="speed-histogram"' in body
    assert "1 Mar 2026 \N{EN DASH} 31 Mar 2026" in body
    # The headline cards repeat the summary's speed-to-lead and latency medians.
    assert '<span class="kpi-value">13.0</span>' in body
    assert '<span class="kpi-value">45.0</span>' in body


def test_presets_default_to_the_last_30_days(owner_client, org):
    response = owner_client.get(reverse("execution_reports", args=["acme"]))
    filters = response.context["filters"]
    assert (filters.end - filters.start).days == 29
    response = owner_client.get(reverse("execution_reports", args=["acme"]), {"range": "7"})
    filters = response.context["filters"]
    assert (filters.end - filters.start).days == 6
    # Dates win over the preset.
    response = owner_client.get(reverse("execution_reports", args=["acme"]), {"range": "90", **PERIOD})
    assert response.context["filters"].start.isoformat() == "2026-03-01"


def test_a_broken_custom_period_is_explained_and_not_exported(owner_client, org):
    url = reverse("execution_reports", args=["acme"])
    response = owner_client.get(url, {"range": "custom", "start": "2026-03-10", "end": "2026-03-01"})
    assert response.status_code == 200
    assert "The period ends before it starts." in response.content.decode()
    response = owner_client.get(url, {"start": "2026-03-10", "format": "csv", "table": "summary"})
    assert response.status_code == 400


# --- SLA compliance --------------------------------------------------------------------


def test_sla_compliance_by_clock(owner_client, world, intruder):
    clocks = page_and_csv(owner_client, "execution_sla_report", "clocks")
    assert clocks[0] == ["Clock", "Met on time", "Breached", "Not counted", "Compliance (%)"]
    # Accept: met T1, T10; breached T4, T6; not counted T3, T8 (cancelled), T9 (running) → 2 ÷ 4 = 50.0%.
    assert row(clocks, "Accept") == ["Accept", "2", "2", "3", "50.0"]
    # First touch: met T2; breached T5, T7, T11 → 1 ÷ 4 = 25.0%.
    assert row(clocks, "First touch") == ["First touch", "1", "3", "0", "25.0"]


def test_sla_compliance_and_breaches_by_rep_team_source_and_policy(owner_client, world):
    by_rep = page_and_csv(owner_client, "execution_sla_report", "rep")
    # Ana accept: T1, T10 met, T4 breached → 2 ÷ 3 = 66.7%; first touch: T2 met, T5, T11 breached → 33.3%.
    assert row(by_rep, "Ana Ruiz", "Accept") == ["Ana Ruiz", "Accept", "2", "1", "66.7"]
    assert row(by_rep, "Ana Ruiz", "First touch") == ["Ana Ruiz", "First touch", "1", "2", "33.3"]
    # Bo's two timers were cancelled by his rejections: no outcome, so no rate (not 0%).
    assert row(by_rep, "Bo Lind", "Accept") == ["Bo Lind", "Accept", "0", "0", ""]
    # Cy: T6 breached (T9 still running) → 0 ÷ 1; T7 breached → 0 ÷ 1.
    assert row(by_rep, "Cy Chan", "Accept") == ["Cy Chan", "Accept", "0", "1", "0.0"]
    assert row(by_rep, "Cy Chan", "First touch") == ["Cy Chan", "First touch", "0", "1", "0.0"]

    by_team = page_and_csv(owner_client, "execution_sla_report", "team")
    # Inbound's pool made A1, A2, A3, A5, A7: accept T1, T10 met, T4 breached; touch T2 met, T5, T11 breached.
    assert row(by_team, "Inbound", "Accept")[2:] == ["2", "1", "66.7"]
    assert row(by_team, "Inbound", "First touch")[2:] == ["1", "2", "33.3"]
    assert row(by_team, "Outbound", "Accept")[2:] == ["0", "1", "0.0"]

    by_source = page_and_csv(owner_client, "execution_sla_report", "source")
    # Paid Search (L1, L2): accept T1 met, T4 breached → 50.0%; touch T2 met, T5 breached → 50.0%.
    assert row(by_source, "Paid Search", "Accept")[2:] == ["1", "1", "50.0"]
    assert row(by_source, "Paid Search", "First touch")[2:] == ["1", "1", "50.0"]
    # Referral (L5): T10 met → 100.0%; T11 breached → 0.0%. The raw source "webinar" stands in for a channel.
    assert row(by_source, "Referral", "Accept")[2:] == ["1", "0", "100.0"]
    assert row(by_source, "Referral", "First touch")[2:] == ["0", "1", "0.0"]
    assert row(by_source, "webinar", "Accept")[2:] == ["0", "1", "0.0"]
    assert row(by_source, "Organic", "Accept")[2:] == ["0", "0", ""]  # T8 cancelled, T9 running

    by_policy = page_and_csv(owner_client, "execution_sla_report", "policy")
    # The February breach (a0's timer) is outside the period and not counted.
    assert row(by_policy, "Accept in 5 min") == ["Accept in 5 min", "Accept", "2", "2", "50.0"]
    assert row(by_policy, "Touch in 15 min") == ["Touch in 15 min", "First touch", "1", "3", "25.0"]


def test_sla_filters_and_chart(owner_client, world):
    clocks = page_and_csv(owner_client, "execution_sla_report", "clocks", rep=world["ana"].pk)
    assert row(clocks, "Accept") == ["Accept", "2", "1", "0", "66.7"]
    clocks = page_and_csv(owner_client, "execution_sla_report", "clocks", team=world["outbound"].pk)
    assert row(clocks, "Accept") == ["Accept", "0", "1", "1", "0.0"]  # T6 breached, T9 running
    body = owner_client.get(reverse("execution_sla_report", args=["acme"]), PERIOD).content.decode()
    assert 'data-chart="sla-compliance"' in body


# --- Rejections ------------------------------------------------------------------------


def test_reject_rates_by_source_and_campaign(owner_client, world, intruder):
    by_source = page_and_csv(owner_client, "execution_rejections_report", "source")
    # Reasons as columns, in the organisation's order (Not ICP before Duplicate).
    assert by_source[0] == ["Source", "Offered", "Rejected", "Reject rate (%)", "Not ICP", "Duplicate"]
    # Organic: A5 rejected (Duplicate), A6 open → 1 ÷ 2 = 50.0%.
    assert row(by_source, "Organic") == ["Organic", "2", "1", "50.0", "0", "1"]
    # Paid Search: A1, A3 accepted, A2 rejected (Not ICP) → 1 ÷ 3 = 33.3%.
    # February's rejection (a0) is outside the period.
    assert row(by_source, "Paid Search") == ["Paid Search", "3", "1", "33.3", "1", "0"]
    assert row(by_source, "Referral") == ["Referral", "1", "0", "0.0", "0", "0"]
    assert row(by_source, "webinar") == ["webinar", "1", "0", "0.0", "0", "0"]

    by_campaign = page_and_csv(owner_client, "execution_rejections_report", "campaign")
    # (no campaign): A4, A7, none rejected; brand: A5 rejected of A5, A6 → 50.0%; spring: A2 of A1-A3 → 33.3%.
    assert by_campaign[1:] == [
        ["(no campaign)", "2", "0", "0.0", "0", "0"],
        ["brand", "2", "1", "50.0", "0", "1"],
        ["spring", "3", "1", "33.3", "1", "0"],
    ]
    reasons = page_and_csv(owner_client, "execution_rejections_report", "reasons")
    assert reasons[1:] == [["Not ICP", "1", "50.0"], ["Duplicate", "1", "50.0"]]  # each 1 of 2 rejections

    body = owner_client.get(reverse("execution_rejections_report", args=["acme"]), PERIOD).content.decode()
    assert '<span class="kpi-value">28.6%</span>' in body  # 2 rejected ÷ 7 offers = 28.57%


# --- Fairness --------------------------------------------------------------------------


def test_fairness_ledger_and_assignments_per_rep(owner_client, world, intruder):
    ledger = page_and_csv(owner_client, "execution_fairness_report", "ledger")
    assert ledger[0][:7] == ["Pool", "Person", "Active", "Weight", "Weight share (%)", "Assigned",
                             "Share of assignments (%)"]  # fmt: skip
    # Inbound: active weights 2 (Ana) + 1 (Bo) = 3 → 66.7% and 33.3%; Dee is inactive.
    # Ledger assignments 3 + 2 + 5 = 10 → 30.0%, 20.0%, 50.0%. March offers: Ana A1, A3, A7; Bo A2, A5.
    assert row(ledger, "Inbound", "Ana Ruiz") == [
        "Inbound", "Ana Ruiz", "yes", "2", "66.7", "3", "30.0", "0", "0", "1.5", "3"
    ]  # fmt: skip
    assert row(ledger, "Inbound", "Bo Lind") == [
        "Inbound", "Bo Lind", "yes", "1", "33.3", "2", "20.0", "2", "2", "0.0", "2"
    ]  # fmt: skip
    assert row(ledger, "Inbound", "Dee Park") == ["Inbound", "Dee Park", "no", "1", "", "5", "50.0", "0", "0",
                                                 "4.0", "0"]  # fmt: skip
    assert row(ledger, "Outbound", "Cy Chan")[3:] == ["1", "100.0", "2", "100.0", "0", "0", "2.0", "2"]
    assert len(ledger) == 5  # the other organisation's pool is not here

    reps = page_and_csv(owner_client, "execution_fairness_report", "reps")
    # 7 March offers: Ana 3 (all accepted) → 42.9%; Bo 2 (both rejected) → 28.6%; Cy 2 (A4 accepted) → 28.6%.
    assert reps[1:] == [
        ["Ana Ruiz", "3", "3", "0", "42.9"],
        ["Bo Lind", "2", "0", "2", "28.6"],
        ["Cy Chan", "2", "1", "0", "28.6"],
    ]
    only_outbound = page_and_csv(
        owner_client, "execution_fairness_report", "ledger", team=world["outbound"].pk
    )
    assert [r[:2] for r in only_outbound[1:]] == [["Outbound", "Cy Chan"]]


# --- Access, exports, empty states, query counts -----------------------------------------


def test_exports_need_the_export_permission_and_are_logged(client, org, members, world):
    viewer = members[Role.VIEWER].user
    client.force_login(viewer)
    url = reverse("execution_sla_report", args=["acme"])
    assert client.get(url, PERIOD).status_code == 200  # everyone reads reports
    response = client.get(url, {**PERIOD, "format": "csv", "table": "rep"})
    assert response.status_code == 403
    assert "Export CSV" not in client.get(url, PERIOD).content.decode()

    marketer = members[Role.MARKETER].user
    client.force_login(marketer)
    exported = csv_table(client, "execution_sla_report", "rep")
    event = SecurityEvent.objects.filter(organization=org, kind=SecurityEvent.Kind.EXPORT).latest("pk")
    assert event.actor == marketer
    assert event.detail["what"] == "sla report: By rep"
    assert event.detail["rows"] == len(exported) - 1
    assert event.detail["filters"]["start"] == "2026-03-01"
    assert client.get(url, {**PERIOD, "format": "csv", "table": "nope"}).status_code == 404


def test_pages_answer_get_only(owner_client, org):
    for name in PAGES:
        assert owner_client.post(reverse(name, args=["acme"])).status_code == 405


@pytest.mark.parametrize(
    ("name", "advice"),
    [
        ("execution_reports", "publish a routing policy"),
        ("execution_sla_report", "Define one under Execution → SLAs"),
        ("execution_rejections_report", "Publish a routing policy"),
        ("execution_fairness_report", "Create a pool and add people to it"),
    ],
)
def test_empty_reports_say_what_to_do(owner_client, org, name, advice):
    response = owner_client.get(reverse(name, args=["acme"]))
    assert response.status_code == 200
    assert advice in response.content.decode()


def test_the_glossary_defines_every_metric(owner_client, org):
    body = owner_client.get(reverse("records_definitions", args=["acme"])).content.decode()
    assert 'id="speed-and-slas"' in body
    # The glossary writes formulas with typographic signs; compare them in plain ASCII.
    body = body.translate({ord("\N{MINUS SIGN}"): "-", ord("\N{MULTIPLICATION SIGN}"): "*"})
    for text in (
        "SLA compliance = timers met on time ÷ (timers met on time + timers breached)",
        "Breaches = count of timers with breached_at set",
        "System latency = first offer time - lead capture time",
        "Time to accept = accepted_at - offered_at",
        "Time to first touch = first_touch_at - offered_at",
        "Speed-to-lead = first touch time - lead capture time",
        "Reject rate = rejected offers ÷ offers made",
        "r = (n - 1) * p ÷ 100",
    ):
        assert text in body


@pytest.mark.parametrize("name", PAGES)
def test_query_counts_do_not_grow_with_the_data(owner_client, org, world, name, django_assert_num_queries):
    url = reverse(name, args=["acme"])
    with django_assert_num_queries(QUERIES[name]):
        assert owner_client.get(url, PERIOD).status_code == 200
    # Twice the offers, leads and timers: the same number of queries.
    bo, inbound = world["bo"], RoutingPool.objects.get(organization=org, name="Inbound")
    accept = SlaPolicy.objects.get(organization=org, name="Accept in 5 min")
    for n in range(8):
        extra = lead(org, t(10, 9, n), channel=f"Channel {n}", campaign=f"c{n}")
        a = offer(org, extra, bo, inbound, t(10, 9, n, 30), accepted=t(10, 9, n, 50), decide_ms=5)
        sla_timer(org, accept, a, t(10, 9, n + 5), status="met", met=t(10, 9, n, 50))
    with django_assert_num_queries(QUERIES[name]):
        assert owner_client.get(url, PERIOD).status_code == 200
    with django_assert_num_queries(EXPORT_QUERIES[name]):
        response = owner_client.get(url, {**PERIOD, "format": "csv", "table": EXPORT_TABLE[name]})
        assert response.status_code == 200
        b"".join(response.streaming_content)


# Every page: session, user, membership (the org check), members and teams (names and filter choices),
# the report's own reads, and the organisation switcher. An export renders no page but writes its
# security-log line instead. Speed reads offers made and offers of leads captured; SLA reads timers;
# rejections reads offers made; fairness reads the ledger and offers made.
QUERIES = {
    "execution_reports": 8,
    "execution_sla_report": 7,
    "execution_rejections_report": 7,
    "execution_fairness_report": 8,
}
# No organisation switcher, one security-log insert: the same totals as the pages.
EXPORT_QUERIES = {
    "execution_reports": 8,
    "execution_sla_report": 7,
    "execution_rejections_report": 7,
    "execution_fairness_report": 8,
}
EXPORT_TABLE = {
    "execution_reports": "summary",
    "execution_sla_report": "clocks",
    "execution_rejections_report": "source",
    "execution_fairness_report": "ledger",
}


def test_each_organisation_sees_only_its_own_numbers(client, world, intruder, outsider):
    client.force_login(outsider)
    for name in PAGES:
        assert client.get(reverse(name, args=["acme"]), PERIOD).status_code == 404
    # In their own organisation they see their own offer only.
    response = client.get(
        reverse("execution_reports", args=["globex"]), {**PERIOD, "format": "csv", "table": "rep"}
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r[:2] for r in rows[1:]] == [["Ivan Intruder", "1"]]
