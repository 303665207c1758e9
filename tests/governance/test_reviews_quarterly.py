"""The quarterly strategy review, now a quarterly operating review, on the hand-worked funnel of
test_waterfall_views ("today" 15 May 2026); and the migration that moved the old strategy reviews.

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
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.execution.models import Notification
from apps.governance.models import ActionItem, Decision, OperatingReview
from apps.governance.reviews_copy import copy_strategy_reviews
from apps.governance.services import reviews as governance
from apps.measurement.services import rollup
from apps.records.models import Account, Opportunity
from apps.strategy.models import ChannelBudget, Goal, KpiNode
from apps.strategy.review_tasks import review_reminders
from apps.strategy.services import goals as goal_services
from apps.strategy.services import plans as plan_services
from apps.strategy.services import reviews as services
from tests.conftest import api_client_for
from tests.strategy.test_waterfall_views import PLAN, TODAY, build_funnel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today(monkeypatch):
    """Today is fixed; the weekly measurement functions answer nothing, so only the strategy sections,
    which read the real goals, plan, channel budget and KPI tree, fill the snapshot."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    monkeypatch.setattr(governance, "red_flags", lambda org, *, today, fresh=False: [])
    monkeypatch.setattr(governance, "top_leaks", lambda org, *, start, end, limit=3, fresh=False: [])
    monkeypatch.setattr(governance, "leading_indicators", lambda org, *, start, end, today=None: [])


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


def hold_quarter(org, day=datetime.date(2026, 1, 15), held_on=TODAY):
    review = governance.review_create(org=org, kind="quarterly", day=day, today=held_on, propose=False)
    governance.review_hold(org=org, review=review, today=held_on)
    review.refresh_from_db()
    return review


def test_a_review_freezes_the_quarters_numbers(books, owner_client):
    review = hold_quarter(books)
    assert (review.period_start, review.period_end) == (datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))
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
    review.refresh_from_db()
    assert review.snapshot["goals"][0]["actual"] == 30_000
    html = owner_client.get(reverse("governance_review", args=[books.slug, review.pk])).content.decode()
    assert "Quarterly strategy review: FY2026 Q1" in html
    row = re.search(r'data-goal="new_bookings">(.*?)</tr>', html, re.S).group(1)
    assert "30,000" in row and "120,000" not in row and "50.0 %" in row
    assert re.search(r'data-stage="inquiry"><th scope="row">Inquiry</th><td class="num">384</td>', html)


def test_planning_from_the_page_takes_the_current_quarter(books, owner_client):
    owner_client.post(reverse("governance_review_new", args=[books.slug]), {"kind": "quarterly"})
    review = OperatingReview.objects.get(organization=books)
    html = owner_client.get(reverse("governance_review", args=[books.slug, review.pk])).content.decode()
    assert "The numbers below are live" in html  # planned: the live strategy sections
    owner_client.post(reverse("governance_review_hold", args=[books.slug, review.pk]))
    review.refresh_from_db()
    assert (review.period_start, review.status, review.held_on) == (datetime.date(2026, 4, 1), "held", TODAY)
    assert review.snapshot["goals"] == [] and review.snapshot["plan"] is None
    html = owner_client.get(reverse("governance_review", args=[books.slug, review.pk])).content.decode()
    assert "No goals were set for the quarter." in html and "No primary plan was saved" in html


def test_a_review_is_due_every_ninety_days_and_operators_are_reminded_once(books, members):
    assert services.is_due(books, TODAY) and services.days_since_last(books, TODAY) is None
    # The owner (an admin), the admin and the RevOps lead of `members`; nobody else.
    assert services.remind_if_due(books, TODAY) == 3
    reminded = Notification.objects.filter(organization=books, kind=services.REMINDER_KIND)
    assert {n.recipient.role for n in reminded} == {Role.ADMIN, Role.REVOPS_LEAD}
    assert {n.url for n in reminded} == {f"/o/{books.slug}/governance/reviews/?kind=quarterly"}
    assert services.remind_if_due(books, TODAY) == 0  # once per due period


def test_after_a_review_the_next_one_falls_due_ninety_days_later(books, members):
    def on(day):
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))

    held = TODAY - datetime.timedelta(days=89)
    hold_quarter(books, held_on=held)
    # A planned review or a weekly one does not count as the quarterly review being held.
    governance.review_create(org=books, kind="quarterly", day=TODAY, today=TODAY, propose=False)
    weekly = governance.review_create(org=books, kind="weekly", today=TODAY, propose=False)
    governance.review_hold(org=books, review=weekly, today=TODAY)
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
    assert f'href="/o/{books.slug}/governance/reviews/?kind=quarterly">Hold this quarter' in html
    hold_quarter(books, day=TODAY)
    html = owner_client.get(reverse("strategy_index", args=[books.slug])).content.decode()
    assert "strategy review" not in html.split("</nav>", 1)[1].split("<h1>", 1)[0]


def test_notes_and_decisions(books, owner_client, owner):
    review = hold_quarter(books)
    base = [books.slug, review.pk]
    owner_client.post(reverse("governance_review_edit", args=base), {"notes": "Paid social is behind."})
    membership = owner.memberships.get(organization=books)
    owner_client.post(
        reverse("governance_review_decision_new", args=base),
        {"text": "Move 10k to paid search", "rationale": "Lower cost per opportunity"},
    )
    decision = Decision.objects.get(review=review)
    owner_client.post(
        reverse("governance_review_action_new", args=base),
        {
            "title": "Move 10k to paid search",
            "owner": membership.pk,
            "due": "2026-06-01",
            "decision": decision.pk,
        },
    )
    review.refresh_from_db()
    (item,) = review.action_items.all()
    assert review.notes == "Paid social is behind."
    assert (item.owner, item.due, item.status, item.decision) == (
        membership,
        datetime.date(2026, 6, 1),
        "open",
        decision,
    )
    owner_client.post(reverse("governance_action_status", args=[books.slug, item.pk]), {"status": "done"})
    item.refresh_from_db()
    assert item.status == "done"
    bad = owner_client.post(
        reverse("governance_review_action_new", args=base),
        {"title": "x", "owner": membership.pk, "due": "soon"},
        follow=True,
    )
    assert "“soon” is not a date (YYYY-MM-DD)." in bad.content.decode()


def test_readers_read_and_operators_hold(books, client, members):
    review = hold_quarter(books)
    client.force_login(members[Role.MARKETER].user)
    assert client.get(reverse("governance_reviews", args=[books.slug])).status_code == 200
    html = client.get(reverse("governance_review", args=[books.slug, review.pk])).content.decode()
    assert "Record a decision" not in html
    assert (
        client.post(reverse("governance_review_new", args=[books.slug]), {"kind": "quarterly"}).status_code
        == 403
    )
    assert client.post(reverse("governance_review_edit", args=[books.slug, review.pk])).status_code == 403


def test_the_old_reviews_address_leads_to_the_quarterly_reviews(books, owner_client):
    response = owner_client.get(reverse("strategy_reviews", args=[books.slug]))
    assert (
        response.status_code == 302 and response.url == f"/o/{books.slug}/governance/reviews/?kind=quarterly"
    )
    html = owner_client.get(response.url).content.decode()
    assert "No review matches these filters" in html and "Plan the review" in html
    hold_quarter(books)
    html = owner_client.get(response.url).content.decode()
    assert "Quarterly strategy review" in html and "FY2026 Q1" in html
    nav = owner_client.get(reverse("strategy_index", args=[books.slug])).content.decode()
    assert f'<a href="/o/{books.slug}/governance/reviews/?kind=quarterly">Strategy reviews</a>' in nav


def test_api_quarterly_reviews(books):
    api = api_client_for(books)
    response = api.post(
        reverse("api-review-list"), {"kind": "quarterly", "date": "2026-02-01"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    held = api.post(reverse("api-review-hold", args=[body["id"]]), {"notes": "OK"}, format="json").json()
    assert held["snapshot"]["goals"][0]["actual"] == 30_000 and held["notes"] == "OK"
    decided = api.post(
        reverse("api-review-decisions", args=[body["id"]]), {"text": "Hire an SDR"}, format="json"
    )
    assert decided.status_code == 201, decided.content
    detail = api.get(reverse("api-review-detail", args=[body["id"]])).json()
    assert [d["text"] for d in detail["decisions"]] == ["Hire an SDR"]


def test_the_snapshot_holds_the_channel_plan_and_the_kpi_tree(books, owner_client):
    ChannelBudget.objects.create(
        organization=books, fiscal_year=2026, quarter=1, channel="Paid Search", planned_spend=Decimal(5000)
    )
    root = KpiNode.objects.create(
        organization=books, name="New bookings", metric="new_bookings", grain="quarter"
    )
    KpiNode.objects.create(organization=books, name="Hand-kept NPS", parent=root)
    review = hold_quarter(books)
    (channel,) = review.snapshot["channels"]
    assert (channel["channel"], channel["planned_spend"]) == ("Paid Search", 5000)
    assert [(n["name"], n["depth"]) for n in review.snapshot["kpi"]] == [
        ("New bookings", 0),
        ("Hand-kept NPS", 1),
    ]
    nps = review.snapshot["kpi"][1]
    assert (nps["status"], nps["owner"]) == ("no_data", "")  # no target and no owner
    html = owner_client.get(reverse("governance_review", args=[books.slug, review.pk])).content.decode()
    assert "Paid Search" in html and 'Hand-kept NPS <span class="muted">(no owner)</span>' in html


# --- The move from apps.strategy ---------------------------------------------------------------------


def test_strategy_reviews_are_copied_onto_the_operating_review_record(
    org, owner, members, other_org, owner_client
):
    """Rebuild the two strategy tables as they were before they were removed, fill them, run the copy."""
    state = MigrationExecutor(connection).loader.project_state(
        [("governance", "0003_reviews_from_strategy"), ("strategy", "0002_kpi_segments_plan")]
    )
    old_apps = state.apps
    StrategyReview = old_apps.get_model("strategy", "StrategyReview")
    StrategyDecision = old_apps.get_model("strategy", "StrategyDecision")
    with connection.schema_editor() as editor:
        editor.create_model(StrategyReview)
        editor.create_model(StrategyDecision)

    org.fiscal_year_start_month = 10
    org.save(update_fields=["fiscal_year_start_month"])
    chair = owner.memberships.get(organization=org)
    rep = members[Role.SALES_REP]
    snapshot = {
        "taken_on": "2026-10-07",
        "start": "2026-07-01",
        "end": "2026-09-30",
        "goals": [{"actual": 5}],
    }
    first = StrategyReview.objects.create(
        organization_id=org.pk, fiscal_year=2026, quarter=4, held_on=datetime.date(2026, 10, 7),
        snapshot=snapshot, notes="Bookings close to goal.", created_by_id=chair.pk,
    )  # fmt: skip
    second = StrategyReview.objects.create(
        organization_id=org.pk, fiscal_year=2026, quarter=4, held_on=datetime.date(2026, 10, 20),
        snapshot={"goals": []}, notes="Second look.",
    )  # fmt: skip
    theirs = StrategyReview.objects.create(
        organization_id=other_org.pk,
        fiscal_year=2027,
        quarter=1,
        held_on=datetime.date(2027, 1, 5),
        snapshot={},
    )
    StrategyDecision.objects.create(
        organization_id=org.pk, review=first, text="Just a decision", rationale="Why"
    )
    StrategyDecision.objects.create(
        organization_id=org.pk,
        review=first,
        text="Hire an SDR",
        owner_id=rep.pk,
        due=datetime.date(2026, 11, 1),
    )
    StrategyDecision.objects.create(organization_id=org.pk, review=second, text="Done already", done=True)

    assert copy_strategy_reviews(old_apps) == 3

    (review,) = OperatingReview.objects.for_org(org)
    # FY2026 Q4 of a year starting in October: July to September 2026.
    assert (review.kind, review.period_start, review.period_end, review.status, review.held_on) == (
        "quarterly",
        datetime.date(2026, 7, 1),
        datetime.date(2026, 9, 30),
        "held",
        datetime.date(2026, 10, 7),
    )
    assert review.snapshot == snapshot  # as it was; the second review of the quarter joins the first
    assert review.notes == "Bookings close to goal.\n\nReview of 2026-10-20: Second look."
    assert (review.created_by, review.digest_sent_at is not None) == (chair, True)
    assert [(d.text, d.rationale) for d in Decision.objects.for_org(org).order_by("id")] == [
        ("Just a decision", "Why"),
        ("Hire an SDR", ""),
        ("Done already", ""),
    ]
    items = ActionItem.objects.for_org(org).order_by("id")
    assert [(i.title, i.owner, i.due, i.status, i.decision.text) for i in items] == [
        ("Hire an SDR", rep, datetime.date(2026, 11, 1), "open", "Hire an SDR"),
        ("Done already", None, None, "done", "Done already"),
    ]
    assert items[1].completed_at is not None
    # The copied review reads like any held quarterly review, without the sections it never had.
    html = owner_client.get(reverse("governance_review", args=[org.slug, review.pk])).content.decode()
    assert "Quarterly strategy review: FY2026 Q4" in html and "Goals against actuals" in html
    assert "Leading indicators" not in html and "Hire an SDR" in html
    (their_review,) = OperatingReview.objects.for_org(other_org)
    assert (their_review.period_start, their_review.held_on) == (datetime.date(2027, 1, 1), theirs.held_on)
