"""The offers list: the records behind speed-to-lead, SLA compliance and the reject rate.

UTC organisation, March 2026. Ana is in the team "Hunters"; Bo is in no team.

    lead  channel      captured   offers
    a     Paid Search  2nd 09:00  a1 to Bo 09:05, rejected 09:20 (accept clock breached)
                                  a2 to Ana 09:21, accepted 09:30, touched 09:50 (accept clock met)
    b     Events       3rd 10:00  b1 to Ana 10:01, accepted 10:11, touched 11:00 (accept and touch met)
    c     Paid Search  9th 08:00  c1 to Bo 08:30, not answered (accept clock running)

First offers: a1, b1, c1; only b1 was touched, so speed-to-lead reads b alone: 60 minutes.
Reject rate 1 of 4; SLA: 3 timers met, 1 breached.
"""

import csv
import datetime
import io

import pytest
from django.urls import reverse

from apps.accounts.models import Team, TeamMember
from apps.execution.models import Assignment, RejectReason, SlaPolicy, SlaTimer
from apps.execution.selectors import offers
from apps.measurement.dashboards import weekly
from apps.measurement.dashboards.base import DashboardQuery
from apps.measurement.metrics import engine
from apps.measurement.services import rollup
from apps.records.models import Lead, LifecycleStage
from tests import factories

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
MARCH = {"from": "2026-03-01", "to": "2026-03-15"}


def at(day, hour, minute=0):
    return datetime.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def fx(db):
    return build()


def build(owner_user=None):
    """The organisation of the table above, rolled up; `owner_user` owns it."""
    org = factories.make_org(time_zone="UTC", owner=owner_user)
    ana = factories.make_member(org, user=factories.make_user(full_name="Ana Ruiz"))
    bo = factories.make_member(org, user=factories.make_user(full_name="Bo Lind"))
    hunters = Team.objects.create(organization=org, name="Hunters")
    TeamMember.objects.create(organization=org, team=hunters, membership=ana)
    stage = LifecycleStage.objects.for_org(org).get(key="mql")
    policy = SlaPolicy.objects.create(organization=org, name="Accept in 15", target_minutes=15)
    reason = RejectReason.objects.for_org(org).get(key="wrong_territory")

    def lead(name, channel, captured):
        return Lead.objects.create(
            organization=org, first_name=name, email=f"{name}@x.test", channel=channel, stage=stage,
            captured_at=captured,
        )  # fmt: skip

    def offer(who, rep, offered, *timers, **fields):
        made = Assignment.objects.create(
            organization=org, lead=who, assignee=rep, offered_at=offered, **fields
        )
        for clock, status in timers:
            SlaTimer.objects.create(
                organization=org, policy=policy, assignment=made, lead=who, assignee=rep, clock=clock,
                status=status, started_at=offered, due_at=offered + datetime.timedelta(minutes=15),
                breached_at=offered + datetime.timedelta(minutes=15) if status == "breached" else None,
            )  # fmt: skip
        return made

    a = lead("a", "Paid Search", at(2, 9))
    b = lead("b", "Events", at(3, 10))
    c = lead("c", "Paid Search", at(9, 8))
    offer(a, bo, at(2, 9, 5), ("accept", "breached"), status="rejected", rejected_at=at(2, 9, 20),
          reject_reason=reason)  # fmt: skip
    offer(a, ana, at(2, 9, 21), ("accept", "met"), status="accepted", accepted_at=at(2, 9, 30),
          first_touch_at=at(2, 9, 50))  # fmt: skip
    offer(b, ana, at(3, 10, 1), ("accept", "met"), ("first_touch", "met"), status="accepted",
          accepted_at=at(3, 10, 11), first_touch_at=at(3, 11))  # fmt: skip
    offer(c, bo, at(9, 8, 30), ("accept", "running"))
    rollup.rollup(org, full=True)
    org.ana, org.bo, org.hunters = ana, bo, hunters
    return org


def listed(org, **values):
    query = offers.OfferQuery(
        start=datetime.date(2026, 3, 1), end=datetime.date(2026, 3, 15), tz=UTC, **values
    )
    found = offers.offers(org, query)
    return found, offers.totals(found)


def metric(org, key, **values):
    metric, window, group_by, compare, params, filters = engine.parse_all(
        key, {**MARCH, "grain": "month", **values}, org=org
    )
    return engine.evaluate(org, metric, window, group_by, compare, params, filters).total


def test_the_list_counts_what_the_figures_count(fx):
    found, totals = listed(fx)
    assert [o.lead.first_name for o in found] == ["c", "b", "a", "a"]  # newest first
    assert (totals.offers, totals.first_touched, totals.rejected) == (4, 1, 1)
    assert (totals.sla_met, totals.sla_breached) == (3, 1)
    assert (totals.reject_rate, totals.sla_compliance) == (25.0, 75.0)
    # The same numbers from the facts the dashboards read.
    assert metric(fx, "reject_rate") == totals.reject_rate
    assert metric(fx, "sla_compliance") == totals.sla_compliance
    assert metric(fx, "speed_to_lead") == pytest.approx(60, rel=0.01)


@pytest.mark.parametrize(
    ("values", "leads", "numbers"),
    [
        ({"show": "first"}, ["b"], (1, 1, 0, 2, 0)),
        ({"show": "sla"}, ["b", "a", "a"], (3, 1, 1, 3, 1)),
        ({"show": "rejected"}, ["a"], (1, 0, 1, 0, 1)),
        ({"channel": "Events"}, ["b"], (1, 1, 0, 2, 0)),
        ({"owner": "BO"}, ["c", "a"], (2, 0, 1, 0, 1)),
        ({"team": "HUNTERS"}, ["b", "a"], (2, 1, 0, 3, 0)),
    ],
)
def test_filters_and_show(fx, values, leads, numbers):
    ids = {"BO": fx.bo.pk, "HUNTERS": fx.hunters.pk}
    values = {k: ids.get(v, v) for k, v in values.items()}
    found, totals = listed(fx, **values)
    assert [o.lead.first_name for o in found] == leads
    assert (
        totals.offers,
        totals.first_touched,
        totals.rejected,
        totals.sla_met,
        totals.sla_breached,
    ) == numbers


def test_a_team_filter_matches_the_metric_engine(fx):
    _, totals = listed(fx, team=fx.hunters.pk)
    assert metric(fx, "reject_rate", team=str(fx.hunters.pk)) == totals.reject_rate == 0
    assert metric(fx, "sla_compliance", team=str(fx.hunters.pk)) == totals.sla_compliance == 100


def test_the_page_shows_the_rows_and_exports_them(fx, client):
    admin = factories.make_member(fx, role="admin")
    client.force_login(admin.user)
    url = reverse("execution_offers", args=[fx.slug])
    page = client.get(url, {**MARCH, "owner": fx.bo.pk})
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 of 2 rejected" in html and "50.0%" in html
    assert "Wrong territory" in html or "wrong territory" in html.lower()
    assert "Accept: breached" in html or "accept: breached" in html.lower()

    export = client.get(url, {**MARCH, "owner": fx.bo.pk, "format": "csv"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:3] == ["Offered at", "Lead", "E-mail"]
    assert [(r[0], r[2], r[7]) for r in rows[1:]] == [
        ("2026-03-09 08:30", "c@x.test", "Offered"),
        ("2026-03-02 09:05", "a@x.test", "Rejected"),
    ]


def test_a_viewer_cannot_export_and_bad_dates_say_so(fx, client):
    viewer = factories.make_member(fx)
    client.force_login(viewer.user)
    url = reverse("execution_offers", args=[fx.slug])
    assert client.get(url, {**MARCH, "format": "csv"}).status_code == 403
    page = client.get(url, {"from": "2026-03-15", "to": "2026-03-01"})
    assert page.status_code == 200
    assert "The period ends before it starts." in page.content.decode()


def test_the_weekly_review_drills_from_assignment_figures_into_the_offers(fx):
    query = DashboardQuery(fx, datetime.date(2026, 3, 1), datetime.date(2026, 3, 15), "", False,
                           {"team": fx.hunters.pk}, "v", False)  # fmt: skip
    window = (query.start, query.end)
    base = reverse("execution_offers", args=[fx.slug])
    speed = weekly._links(query, "speed_to_lead_p50", "speed_to_lead", window)
    assert speed == f"{base}?team={fx.hunters.pk}&show=first&from=2026-03-01&to=2026-03-15"
    assert "show=sla" in weekly._links(query, "sla_compliance", "sla_compliance", window)
    assert "show" not in weekly._links(query, "reject_rate", "reject_rate", window)
