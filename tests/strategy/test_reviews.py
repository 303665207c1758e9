"""The quarterly strategy review, on the hand-worked funnel of test_waterfall_views ("today" 15 May 2026).

FY2026 Q1 (January to March) has ended. One deal was won in it: 30,000 on
21 February. With a new bookings goal of 60,000 the review records 30,000,
50 % of target, behind. The primary plan (every rate 50 %, deal size 10,000,
target 120,000) required 128 inquiries a month, 384 in the quarter, against 3
actual (2 in January, 1 in February); 12 deals against 1 won.
"""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import Notification
from apps.measurement.services import rollup
from apps.records.models import Account, Opportunity
from apps.strategy.models import ChannelBudget, Goal, KpiNode, StrategyReview
from apps.strategy.review_tasks import review_reminders
from apps.strategy.services import goals as goal_services
from apps.strategy.services import plans as plan_services
from apps.strategy.services import reviews as services
from tests.conftest import api_client_for
from tests.strategy.test_waterfall_views import PLAN, TODAY, build_funnel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)


@pytest.fixture
def books(org, owner):
    build_funnel(org)
    owner_membership = owner.memberships.get(organization=org)
    Goal.objects.create(
        organization=org, metric="new_bookings", fiscal_year=2026, quarter=1, owner=owner_membership,
        target=Decimal(60_000),
    )  # fmt: skip
    plan_services.plan_save(org=org, name="Q1 plan", params=PLAN, today=TODAY, primary=True)
    return org


def test_a_review_freezes_the_quarters_numbers(books, owner_client):
    review = services.review_hold(org=books, today=TODAY, fiscal_year=2026, quarter=1)
    (goal,) = review.snapshot["goals"]
    assert (goal["target"], goal["actual"], goal["percent"], goal["status"]) == (
        60_000,
        30_000,
        50.0,
        "behind",
    )
    stages = {stage["stage"]: stage for stage in review.snapshot["plan"]["stages"]}
    assert (stages["inquiry"]["required"], stages["inquiry"]["actual_to_date"]) == (384, 3)
    assert (stages["won"]["required"], stages["won"]["actual_to_date"]) == (12, 1)
    assert review.snapshot["plan"]["name"] == "Q1 plan"

    # A late deal moves the live goal; the review keeps what it saw.
    Opportunity.objects.create(
        organization=books, name="Late", account=Account.objects.create(organization=books, name="L"),
        amount=Decimal(90_000), created_date=datetime.date(2026, 3, 2), status="won",
        close_date=datetime.date(2026, 3, 20),
    )  # fmt: skip
    rollup.rollup(books, full=True)
    live = goal_services.goal_progress(org=books, goal=Goal.objects.get(organization=books), today=TODAY)
    assert live.actual == 120_000
    html = owner_client.get(reverse("strategy_review", args=[books.slug, review.pk])).content.decode()
    row = re.search(r'data-goal="new_bookings">(.*?)</tr>', html, re.S).group(1)
    assert "30,000" in row and "120,000" not in row and "50.0 %" in row
    assert re.search(r'data-stage="inquiry"><th scope="row">Inquiry</th><td class="num">384</td>', html)


def test_holding_from_the_page_takes_the_current_quarter(books, owner_client):
    response = owner_client.post(reverse("strategy_review_new", args=[books.slug]))
    review = StrategyReview.objects.get(organization=books)
    assert response.status_code == 302
    assert (review.fiscal_year, review.quarter, review.held_on) == (2026, 2, TODAY)
    assert review.snapshot["goals"] == [] and review.snapshot["plan"] is None
    html = owner_client.get(reverse("strategy_review", args=[books.slug, review.pk])).content.decode()
    assert "No goals were set for the quarter." in html and "No primary plan was saved" in html


def test_a_review_is_due_every_ninety_days_and_operators_are_reminded_once(books, members):
    assert services.is_due(books, TODAY) and services.days_since_last(books, TODAY) is None
    # The owner (an admin), the admin and the RevOps lead of `members`; nobody else.
    assert services.remind_if_due(books, TODAY) == 3
    reminded = Notification.objects.filter(organization=books, kind=services.REMINDER_KIND)
    assert {n.recipient.role for n in reminded} == {Role.ADMIN, Role.REVOPS_LEAD}
    assert services.remind_if_due(books, TODAY) == 0  # once per due period


def test_after_a_review_the_next_one_falls_due_ninety_days_later(books, members):
    def on(day):
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))

    held = TODAY - datetime.timedelta(days=89)
    services.review_hold(org=books, today=held, fiscal_year=2026, quarter=1)
    assert not services.is_due(books, TODAY) and services.days_since_last(books, TODAY) == 89
    assert services.remind_if_due(books, TODAY) == 0
    later = TODAY + datetime.timedelta(days=1)
    assert services.is_due(books, later)
    assert services.remind_if_due(books, later) == 3
    Notification.objects.filter(organization=books).update(created_at=on(later))  # sent on that day
    assert services.remind_if_due(books, later + datetime.timedelta(days=5)) == 0
    # A reminder of an earlier period does not count for this one.
    Notification.objects.filter(organization=books).update(created_at=on(held))
    assert services.remind_if_due(books, later) == 3


def test_the_daily_task_reminds_each_organisation(books, other_org):
    assert review_reminders() == 2  # the owners of both organisations; nobody else is an operator
    assert review_reminders() == 0


def test_the_goals_page_says_when_a_review_is_due(books, owner_client):
    html = owner_client.get(reverse("strategy_index", args=[books.slug])).content.decode()
    assert "No quarterly strategy review has been held yet." in html
    services.review_hold(org=books, today=TODAY)
    html = owner_client.get(reverse("strategy_index", args=[books.slug])).content.decode()
    assert "strategy review" not in html.split("</nav>", 1)[1].split("<h1>", 1)[0]


def test_notes_and_decisions(books, owner_client, owner):
    review = services.review_hold(org=books, today=TODAY)
    base = [books.slug, review.pk]
    owner_client.post(reverse("strategy_review_notes", args=base), {"notes": "Paid social is behind."})
    membership = owner.memberships.get(organization=books)
    owner_client.post(
        reverse("strategy_review_decision_new", args=base),
        {"text": "Move 10k to paid search", "rationale": "Lower cost per opportunity", "owner": membership.pk,
         "due": "2026-06-01"},
    )  # fmt: skip
    review.refresh_from_db()
    (decision,) = review.decisions.all()
    assert review.notes == "Paid social is behind."
    assert (decision.owner, decision.due, decision.done) == (membership, datetime.date(2026, 6, 1), False)
    owner_client.post(reverse("strategy_review_decision_done", args=[books.slug, decision.pk]), {"done": "1"})
    decision.refresh_from_db()
    assert decision.done

    bad = owner_client.post(reverse("strategy_review_decision_new", args=base), {"text": "x", "due": "soon"},
                            follow=True)  # fmt: skip
    assert "“soon” is not a date (YYYY-MM-DD)." in bad.content.decode()
    with pytest.raises(ServiceError) as caught:
        services.decision_add(org=books, review=review, text="  ")
    assert caught.value.field == "text"


def test_readers_read_and_operators_hold(books, client, members):
    review = services.review_hold(org=books, today=TODAY)
    client.force_login(members[Role.MARKETER].user)
    assert client.get(reverse("strategy_reviews", args=[books.slug])).status_code == 200
    html = client.get(reverse("strategy_review", args=[books.slug, review.pk])).content.decode()
    assert "Record a decision" not in html
    assert client.post(reverse("strategy_review_new", args=[books.slug])).status_code == 403
    assert client.post(reverse("strategy_review_notes", args=[books.slug, review.pk])).status_code == 403


def test_the_reviews_page_lists_reviews_and_has_an_empty_state(books, owner_client):
    html = owner_client.get(reverse("strategy_reviews", args=[books.slug])).content.decode()
    assert "No strategy review yet" in html and "No review has been held yet." in html
    services.review_hold(org=books, today=TODAY, fiscal_year=2026, quarter=1)
    html = owner_client.get(reverse("strategy_reviews", args=[books.slug])).content.decode()
    assert "FY2026 Q1" in html and "one is due" not in html


def test_api_reviews(books):
    api = api_client_for(books)
    response = api.post(
        reverse("api-strategy-review-list"), {"fiscal_year": 2026, "quarter": 1}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["snapshot"]["goals"][0]["actual"] == 30_000
    decided = api.post(
        reverse("api-strategy-review-decisions", args=[body["id"]]), {"text": "Hire an SDR"}, format="json"
    )
    assert decided.status_code == 201, decided.content
    patched = api.patch(
        reverse("api-strategy-review-detail", args=[body["id"]]), {"notes": "OK"}, format="json"
    )
    assert patched.json()["notes"] == "OK"
    assert [d["text"] for d in patched.json()["decisions"]] == ["Hire an SDR"]

    half = api.post(reverse("api-strategy-review-list"), {"quarter": 1}, format="json")
    assert half.status_code == 400
    assert "quarter" in half.json()["error"]["fields"]


def test_the_snapshot_holds_the_channel_plan_and_the_kpi_tree(books, owner_client):
    ChannelBudget.objects.create(
        organization=books, fiscal_year=2026, quarter=1, channel="Paid Search", planned_spend=Decimal(5000)
    )
    root = KpiNode.objects.create(
        organization=books, name="New bookings", metric="new_bookings", grain="quarter"
    )
    KpiNode.objects.create(organization=books, name="Hand-kept NPS", parent=root)
    review = services.review_hold(org=books, today=TODAY, fiscal_year=2026, quarter=1)
    (channel,) = review.snapshot["channels"]
    assert (channel["channel"], channel["planned_spend"]) == ("Paid Search", 5000)
    assert [(n["name"], n["depth"]) for n in review.snapshot["kpi"]] == [
        ("New bookings", 0),
        ("Hand-kept NPS", 1),
    ]
    nps = review.snapshot["kpi"][1]
    assert (nps["status"], nps["owner"]) == ("no_data", "")  # no target and no owner
    html = owner_client.get(reverse("strategy_review", args=[books.slug, review.pk])).content.decode()
    assert "Paid Search" in html and 'Hand-kept NPS <span class="muted">(no owner)</span>' in html
