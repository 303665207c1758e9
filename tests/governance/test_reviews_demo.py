"""The demo's three past weekly reviews ("today" Wednesday 18 November 2026): held on the Mondays
2, 9 and 16 November, each about the week before, with a decision and action items; two items are
overdue, one is still due, one was done and one dropped."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.accounts.models import Organization
from apps.accounts.roles import Role
from apps.governance import demo
from apps.governance.models import ActionItem, OperatingReview
from apps.governance.services import reviews as services
from apps.strategy.models import KpiNode
from tests import factories

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 18)


@pytest.fixture
def northwind(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    admin = factories.make_user(email="admin@northwind.example", full_name="Ada Admin")
    org = factories.make_org(name="Northwind", slug="northwind", owner=admin, time_zone="UTC")
    for name, role in (
        ("revops", Role.REVOPS_LEAD),
        ("marketer", Role.MARKETER),
        ("manager", Role.SALES_MANAGER),
    ):
        factories.make_member(org, role=role, user=factories.make_user(email=f"{name}@northwind.example"))
    KpiNode.objects.create(organization=org, name="Pipeline created")
    return org


def test_the_demo_holds_three_weekly_reviews_with_overdue_items(northwind):
    assert demo.seed_reviews(northwind) == 3
    reviews = list(OperatingReview.objects.for_org(northwind).order_by("period_start"))
    assert [(r.period_start, r.held_on, r.status) for r in reviews] == [
        (datetime.date(2026, 10, 26), datetime.date(2026, 11, 2), "held"),
        (datetime.date(2026, 11, 2), datetime.date(2026, 11, 9), "held"),
        (datetime.date(2026, 11, 9), datetime.date(2026, 11, 16), "held"),
    ]
    assert all(r.digest_sent_at is not None and r.attendees.count() == 4 for r in reviews)
    assert [r.decisions.count() for r in reviews] == [1, 1, 1]
    items = {i.title: i for i in ActionItem.objects.for_org(northwind)}
    assert {t: (i.due, i.status) for t, i in items.items()} == {
        "Change the routing rule for paid social": (datetime.date(2026, 11, 4), "done"),
        "Audit last month's rejected MQLs by reason": (datetime.date(2026, 11, 7), "open"),
        "Fix the UTM parameters of the webinar campaign": (datetime.date(2026, 11, 12), "open"),
        "Name an owner for every KPI node": (datetime.date(2026, 11, 13), "dropped"),
        "Break down SAL → SQL by source for the next review": (datetime.date(2026, 11, 22), "open"),
    }
    assert items["Break down SAL → SQL by source for the next review"].subject.name == "Pipeline created"
    overdue = [i.title for i in services.overdue_items(northwind, today=TODAY)]
    assert overdue == [
        "Audit last month's rejected MQLs by reason",
        "Fix the UTM parameters of the webinar campaign",
    ]
    # The last review carried the two open items of the earlier ones, in its agenda and its snapshot.
    last = reviews[-1]
    assert [c["title"] for c in last.snapshot["carried"]] == overdue
    assert set(last.agenda.filter(source="carried").values_list("title", flat=True)) == set(overdue)
    # The unowned KPI node was a red flag on every agenda.
    assert all(r.agenda.filter(key="red_flag:kpi_unowned").exists() for r in reviews)
    assert demo.seed_reviews(northwind) is None


def test_seed_demo_holds_the_weekly_reviews_and_last_quarters_strategy_review():
    """The whole demo, small: the weekly reviews come last and read everything seeded before them."""
    call_command("seed_demo", scale=0.05, stdout=io.StringIO())
    org = Organization.objects.get(slug="northwind")
    today = timezone.localdate()
    weekly = list(OperatingReview.objects.for_org(org).filter(kind="weekly").order_by("period_start"))
    assert len(weekly) == 3 and all(r.status == "held" and r.snapshot["indicators"] for r in weekly)
    assert weekly[-1].period_end < today - datetime.timedelta(days=today.weekday())  # all in past weeks
    assert services.overdue_items(org, today=today).count() >= 1
    assert ActionItem.objects.for_org(org).filter(content_type__model="campaign").count() == 1
    quarterly = OperatingReview.objects.for_org(org).get(kind="quarterly")
    assert quarterly.status == "held" and {"goals", "plan", "channels", "kpi"} <= set(quarterly.snapshot)
    assert quarterly.decisions.count() == 2
