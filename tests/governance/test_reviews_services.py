"""Operating review services: periods, the proposed agenda (with carry-forward and fingerprints), the
snapshot frozen when a review is held, decisions and action items, and the digest sent once.

"Today" is Wednesday 18 November 2026; the organisation is on UTC with a fiscal year starting in
October, so today's week is Monday 16 to Sunday 22 November, its month November and its fiscal
quarter FY2027 Q1 (1 October to 31 December 2026). The measurement functions the agenda and the
snapshot read are fixed by the `measured` fixture (one test reads the real ones).
"""

import datetime
from dataclasses import asdict, dataclass

import pytest
from django.core import mail
from django.db import IntegrityError, InternalError, transaction
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import Campaign
from apps.governance.models import ActionItem, AgendaItem, OperatingReview
from apps.governance.reviews_tasks import review_digest_sweep
from apps.governance.services import reviews as services
from apps.governance.services import reviews_digest
from apps.strategy.models import KpiNode

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 18)


@dataclass
class Flag:
    key: str
    title: str
    detail: str
    url: str = ""

    def as_dict(self):
        return asdict(self)


@dataclass
class Leak:
    key: str
    sentence: str
    url: str = ""
    at_stake: float = 0.0

    def as_dict(self):
        return asdict(self)


@dataclass
class FakeNode:
    pk: int
    name: str


@dataclass
class FakeState:
    node: FakeNode
    status: str
    reason: str = ""
    depth: int = 0
    actual: float | None = None
    target: float | None = None
    owner_name: str = ""

    @property
    def status_label(self):
        return self.status.replace("_", " ").capitalize()


class Measured:
    """What the measurement functions answer; tests change it to play "the data changed later"."""

    def __init__(self):
        self.flags = [
            Flag("rejections_rising", "Sales rejections rising", "Rejections up 40 % on volume up 10 %")
        ]
        self.leaks = [Leak("sal>sql:channel:paid_social", "SAL → SQL for Paid Social fell to 18% from 31%.")]
        self.states = [
            FakeState(
                FakeNode(901, "Pipeline created"), "off_track", "At 40 % of the pace needed", 0, 40, 100
            ),
            FakeState(FakeNode(902, "MQLs"), "on_track", "", 1, 120, 100, "Rita"),
        ]
        self.indicators = {"new_leads": 42}
        self.calls = []

    def leading_indicators(self, org, *, start, end, today=None):
        self.calls.append((start, end))
        return [
            {"key": key, "label": key.replace("_", " ").capitalize(), "unit": "count", "value": value,
             "previous": value - 2, "target": 50, "start": start}
            for key, value in self.indicators.items()
        ]  # fmt: skip


@pytest.fixture
def measured(monkeypatch):
    fixed = Measured()
    monkeypatch.setattr(services, "red_flags", lambda org, *, today, fresh=False: list(fixed.flags))
    monkeypatch.setattr(
        services, "top_leaks", lambda org, *, start, end, limit=3, fresh=False: list(fixed.leaks)[:limit]
    )
    monkeypatch.setattr(services, "kpi_states", lambda org, *, today: list(fixed.states))
    monkeypatch.setattr(services, "leading_indicators", fixed.leading_indicators)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    return fixed


@pytest.fixture
def acme(org):
    org.time_zone = "UTC"
    org.fiscal_year_start_month = 10
    org.save(update_fields=["time_zone", "fiscal_year_start_month"])
    return org


@pytest.fixture
def chair(acme, owner):
    return owner.memberships.get(organization=acme)


def earlier_review(org, chair, *, day=datetime.date(2026, 11, 10)):
    """The previous week's review (9 to 15 November) with one open, one done and one dropped item."""
    review = services.review_create(org=org, kind="weekly", day=day, today=day, propose=False)
    items = {
        status: services.action_add(
            org=org, review=review, title=f"{status} item", owner=chair, due=datetime.date(2026, 11, 12)
        )
        for status in ("open", "done", "dropped")
    }
    for status in ("done", "dropped"):
        services.action_set_status(org=org, item=items[status], status=status)
    return review, items


# --- Periods -----------------------------------------------------------------------------------------


def test_periods_are_the_local_week_the_month_and_the_fiscal_quarter(acme):
    assert services.period_of(acme, "weekly", TODAY) == (
        datetime.date(2026, 11, 16),
        datetime.date(2026, 11, 22),
    )
    assert services.period_of(acme, "weekly", datetime.date(2026, 11, 22)) == (
        datetime.date(2026, 11, 16),
        datetime.date(2026, 11, 22),
    )  # Sunday closes the week
    assert services.period_of(acme, "monthly", datetime.date(2028, 2, 10)) == (
        datetime.date(2028, 2, 1),
        datetime.date(2028, 2, 29),
    )
    assert services.period_of(acme, "quarterly", TODAY) == (
        datetime.date(2026, 10, 1),
        datetime.date(2026, 12, 31),
    )
    assert services.previous_period(acme, "weekly", datetime.date(2026, 11, 16)) == (
        datetime.date(2026, 11, 9),
        datetime.date(2026, 11, 15),
    )
    assert services.previous_period(acme, "quarterly", datetime.date(2026, 10, 1)) == (
        datetime.date(2026, 7, 1),
        datetime.date(2026, 9, 30),
    )


def test_a_review_per_kind_and_period(acme, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    assert (review.period_start, review.period_end, review.status) == (
        datetime.date(2026, 11, 16),
        datetime.date(2026, 11, 22),
        "planned",
    )
    assert services.period_label(acme, review) == "Week of 16 Nov 2026"
    with pytest.raises(ServiceError) as caught:
        services.review_create(org=acme, kind="weekly", day="2026-11-20", today=TODAY)
    assert caught.value.field == "date"
    quarterly = services.review_create(org=acme, kind="quarterly", today=TODAY, propose=False)
    assert services.period_label(acme, quarterly) == "FY2027 Q1"
    for kind, day, field in (("yearly", None, "kind"), ("monthly", "soon", "date")):
        with pytest.raises(ServiceError) as caught:
            services.review_create(org=acme, kind=kind, day=day, today=TODAY)
        assert caught.value.field == field


# --- The agenda --------------------------------------------------------------------------------------


def test_the_agenda_is_proposed_with_fingerprints_and_carries_open_items_forward(acme, chair, measured):
    earlier, items = earlier_review(acme, chair)
    later = services.review_create(org=acme, kind="weekly", day="2026-11-25", today=TODAY, propose=False)
    services.action_add(org=acme, review=later, title="Later item", owner=chair, due="2026-12-01")

    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    agenda = list(review.agenda.all())
    assert [(a.position, a.source, a.key) for a in agenda] == [
        (0, "red_flag", "red_flag:rejections_rising"),
        (1, "leak", "leak:sal>sql:channel:paid_social"),
        (2, "kpi", "kpi:901"),  # only the node off track
        (3, "carried", f"action:{items['open'].pk}"),  # the open item only; not the later review's
    ]
    assert agenda[1].title == "SAL → SQL for Paid Social fell to 18% from 31%."
    assert agenda[2].title == "Pipeline created is off track"
    assert agenda[3].title == "open item"
    assert agenda[3].detail == "Raised in Week of 9 Nov 2026 (Olivia Owner, due 12 Nov 2026) — overdue."
    assert agenda[3].url == f"/o/acme/governance/reviews/{earlier.pk}/"

    # Proposing again adds only what is new: the same issue keeps its fingerprint.
    assert services.agenda_propose(org=acme, review=review, today=TODAY) == 0
    measured.flags.append(Flag("orphan_leads", "Orphan leads", "12 leads without an owner"))
    assert services.agenda_propose(org=acme, review=review, today=TODAY) == 1
    assert review.agenda.order_by("-position").first().key == "red_flag:orphan_leads"
    # The same fingerprint in the next week's review: the issue can be recognised across reviews.
    following = services.review_create(org=acme, kind="weekly", day="2026-12-02", today=TODAY)
    keys = set(
        AgendaItem.objects.for_org(acme)
        .filter(key="red_flag:rejections_rising")
        .values_list("review", flat=True)
    )
    assert keys == {review.pk, following.pk}


def test_the_agenda_is_edited_by_hand_until_the_review_is_held(acme, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    first = services.agenda_add(org=acme, review=review, title="  Hiring plan  ")
    second = services.agenda_add(org=acme, review=review, title="Budget")
    third = services.agenda_add(org=acme, review=review, title="Tooling")
    assert (first.title, first.source, first.key) == ("Hiring plan", "manual", "")
    services.agenda_move(org=acme, item=third, by=-1)
    assert [a.title for a in review.agenda.all()] == ["Hiring plan", "Tooling", "Budget"]
    services.agenda_move(org=acme, item=first, by=-1)  # already first: stays
    services.agenda_reorder(org=acme, review=review, order=[second.pk, first.pk, third.pk])
    assert [(a.title, a.position) for a in review.agenda.all()] == [
        ("Budget", 0),
        ("Hiring plan", 1),
        ("Tooling", 2),
    ]
    with pytest.raises(ServiceError) as caught:
        services.agenda_reorder(org=acme, review=review, order=[second.pk, first.pk])
    assert caught.value.field == "order"
    services.agenda_remove(org=acme, item=second)
    assert [a.title for a in review.agenda.all()] == ["Hiring plan", "Tooling"]
    with pytest.raises(ServiceError) as caught:
        services.agenda_add(org=acme, review=review, title=" ")
    assert caught.value.field == "title"

    services.review_hold(org=acme, review=review, today=TODAY)
    review.refresh_from_db()
    for change in (
        lambda: services.agenda_add(org=acme, review=review, title="Late"),
        lambda: services.agenda_remove(org=acme, item=AgendaItem.objects.get(pk=first.pk)),
        lambda: services.agenda_propose(org=acme, review=review, today=TODAY),
    ):
        with pytest.raises(ServiceError):
            change()
    assert review.agenda.count() == 2


# --- Holding: the snapshot is frozen -----------------------------------------------------------------


def test_holding_freezes_the_snapshot_and_later_changes_do_not_alter_it(acme, chair, measured):
    _, items = earlier_review(acme, chair)
    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    services.review_hold(org=acme, review=review, today=TODAY)
    review.refresh_from_db()
    assert (review.status, review.held_on) == ("held", TODAY)
    snapshot = review.snapshot
    assert (snapshot["start"], snapshot["end"]) == ("2026-11-16", "2026-11-22")
    assert (snapshot["previous_start"], snapshot["previous_end"]) == ("2026-11-09", "2026-11-15")
    assert snapshot["indicators"] == [
        {"key": "new_leads", "label": "New leads", "unit": "count", "value": 42, "previous": 40, "target": 50,
         "start": "2026-11-16"}
    ]  # fmt: skip
    assert snapshot["indicators_previous"][0]["start"] == "2026-11-09"
    assert snapshot["red_flags"] == [
        {"key": "rejections_rising", "title": "Sales rejections rising",
         "detail": "Rejections up 40 % on volume up 10 %", "url": ""}
    ]  # fmt: skip
    assert snapshot["leaks"][0]["key"] == "sal>sql:channel:paid_social"
    assert [(n["name"], n["status"]) for n in snapshot["kpi"]] == [
        ("Pipeline created", "off_track"),
        ("MQLs", "on_track"),
    ]
    assert [(c["title"], c["overdue"], c["due"]) for c in snapshot["carried"]] == [
        ("open item", True, "2026-11-12")
    ]
    frozen = dict(snapshot)

    # Everything changes afterwards: the numbers, the flags, the carried item's status.
    measured.indicators = {"new_leads": 99, "mqls": 7}
    measured.flags = []
    measured.leaks = []
    measured.states = []
    services.action_set_status(org=acme, item=items["open"], status="done")
    services.review_notes(org=acme, review=review, notes="Notes may still be written.")
    review.refresh_from_db()
    assert review.snapshot == frozen
    assert review.notes == "Notes may still be written."
    live = services.review_numbers(acme, review, today=TODAY)
    assert live["indicators"][0]["value"] == 99 and live["carried"] == [] and live["red_flags"] == []

    with pytest.raises(ServiceError) as caught:
        services.review_hold(org=acme, review=review, today=TODAY)
    assert caught.value.code == "held"
    # Not even a direct write gets past the database.
    with pytest.raises(InternalError), transaction.atomic():
        OperatingReview.objects.filter(pk=review.pk).update(snapshot={"rewritten": True})
    review.refresh_from_db()
    assert review.snapshot == frozen


def test_a_quarterly_review_freezes_the_strategy_sections_too(acme, measured):
    review = services.review_create(org=acme, kind="quarterly", today=TODAY, propose=False)
    services.review_hold(org=acme, review=review, today=TODAY)
    review.refresh_from_db()
    assert {"goals", "plan", "channels", "kpi", "indicators", "red_flags", "leaks", "carried"} <= set(
        review.snapshot
    )
    assert (review.snapshot["goals"], review.snapshot["plan"], review.snapshot["channels"]) == ([], None, [])
    # The strategy KPI section reads the real tree (empty here), not the weekly KPI rows.
    assert review.snapshot["kpi"] == []


def test_the_real_measurement_functions_feed_a_held_review(acme, monkeypatch):
    """No fixed answers: the agenda and the snapshot read the measurement app as it is. A KPI node
    without an owner is a real red flag; the nine leading indicators are there, empty of leads."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    KpiNode.objects.create(organization=acme, name="Hand-kept NPS")
    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    (flag_item,) = review.agenda.filter(source="red_flag")
    assert (flag_item.key, flag_item.title) == ("red_flag:kpi_unowned", "1 KPI without an owner")
    assert flag_item.url == "/o/acme/strategy/kpi/"
    services.review_hold(org=acme, review=review, today=TODAY)
    review.refresh_from_db()
    snapshot = review.snapshot
    indicators = {row["key"]: row for row in snapshot["indicators"]}
    assert list(indicators)[:4] == ["new_leads", "mqls", "sals", "sqls"]
    assert (indicators["new_leads"]["value"], indicators["new_leads"]["previous"]) == (0, 0)
    assert [flag["key"] for flag in snapshot["red_flags"]] == ["red_flag:kpi_unowned"]
    assert snapshot["leaks"] == []  # no leads, no leak
    assert [(n["name"], n["owner"]) for n in snapshot["kpi"]] == [("Hand-kept NPS", "")]
    html_row = services.review_numbers(acme, review, today=TODAY)["indicators"][0]
    assert html_row["shown"]["value"] == indicators["new_leads"]["shown"]["value"]


# --- Decisions and action items ----------------------------------------------------------------------


def test_decisions_need_text_and_an_agenda_item_of_the_same_review(acme, chair, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    other = services.review_create(org=acme, kind="monthly", today=TODAY)
    item = review.agenda.first()
    decision = services.decision_add(
        org=acme, review=review, text=" Cut paid social by 20 % ", rationale="Lowest SQL rate",
        agenda_item=item.pk, decided_by=chair,
    )  # fmt: skip
    assert (decision.text, decision.rationale, decision.agenda_item, decision.decided_by) == (
        "Cut paid social by 20 %",
        "Lowest SQL rate",
        item,
        chair,
    )
    for kwargs, field in (
        ({"text": "  "}, "text"),
        ({"text": "x" * 501}, "text"),
        ({"text": "ok", "agenda_item": other.agenda.first().pk}, "agenda_item"),
        ({"text": "ok", "agenda_item": "abc"}, "agenda_item"),
    ):
        with pytest.raises(ServiceError) as caught:
            services.decision_add(org=acme, review=review, **kwargs)
        assert caught.value.field == field


def test_action_items_need_an_active_member_a_due_date_and_an_object_of_this_organisation(
    acme, chair, members, other_org, outsider, measured
):
    review = services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    decision = services.decision_add(org=acme, review=review, text="Fix tracking")
    campaign = Campaign.objects.create(organization=acme, name="Webinar")
    theirs = Campaign.objects.create(organization=other_org, name="Their webinar")
    outsider_membership = outsider.memberships.get(organization=other_org)
    leaver = members[Role.MARKETER]
    leaver.is_active = False
    leaver.save(update_fields=["is_active"])

    item = services.action_add(
        org=acme, review=review, title="Fix UTM tags", owner=chair.pk, due="2026-11-25", decision=decision.pk,
        subject_type="campaign", subject_id=campaign.pk,
    )  # fmt: skip
    assert (item.owner, item.due, item.status, item.decision, item.subject) == (
        chair,
        datetime.date(2026, 11, 25),
        "open",
        decision,
        campaign,
    )
    (row,) = services.action_rows(acme, [item], TODAY)
    assert (row["subject"], row["subject_url"], row["subject_type"]) == (
        "Campaign: Webinar",
        f"/o/acme/campaigns/{campaign.pk}/",
        "campaign",
    )

    base = {"title": "Do it", "owner": chair.pk, "due": "2026-11-25"}
    for changes, field in (
        ({"title": " "}, "title"),
        ({"owner": None}, "owner"),
        ({"owner": outsider_membership.pk}, "owner"),  # another organisation's member
        ({"owner": leaver.pk}, "owner"),  # no longer active
        ({"due": None}, "due"),
        ({"due": "next week"}, "due"),
        ({"decision": 999_999}, "decision"),
        ({"subject_type": "campaign", "subject_id": theirs.pk}, "subject_id"),  # another organisation's
        ({"subject_type": "campaign", "subject_id": None}, "subject_id"),
        ({"subject_type": "invoice", "subject_id": campaign.pk}, "subject_type"),
    ):
        with pytest.raises(ServiceError) as caught:
            services.action_add(org=acme, review=review, **{**base, **changes})
        assert caught.value.field == field, changes
    assert ActionItem.objects.for_org(acme).count() == 1


def test_action_items_are_marked_done_or_dropped_and_reopened(acme, chair, members, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    item = services.action_add(org=acme, review=review, title="Do it", owner=chair, due="2026-11-17")
    assert [r["overdue"] for r in services.action_rows(acme, [item], TODAY)] == [True]
    moment = timezone.make_aware(datetime.datetime(2026, 11, 18, 9))
    services.action_set_status(org=acme, item=item, status="done", now=moment)
    item.refresh_from_db()
    assert (item.status, item.completed_at) == ("done", moment)
    assert [r["overdue"] for r in services.action_rows(acme, [item], TODAY)] == [False]
    services.action_set_status(org=acme, item=item, status="open")
    item.refresh_from_db()
    assert (item.status, item.completed_at) == ("open", None)
    with pytest.raises(ServiceError) as caught:
        services.action_set_status(org=acme, item=item, status="finished")
    assert caught.value.field == "status"
    # Its owner and the operators may update it; another member may not.
    assert services.can_update_action(chair, item)
    assert services.can_update_action(members[Role.REVOPS_LEAD], item)
    assert not services.can_update_action(members[Role.SALES_REP], item)
    item.owner = members[Role.SALES_REP]
    assert services.can_update_action(members[Role.SALES_REP], item)


def test_action_items_filters(acme, chair, members, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    rep = members[Role.SALES_REP]
    late = services.action_add(org=acme, review=review, title="Late", owner=chair, due="2026-11-10")
    soon = services.action_add(org=acme, review=review, title="Soon", owner=rep, due="2026-11-30")
    done = services.action_add(org=acme, review=review, title="Done", owner=rep, due="2026-11-01")
    services.action_set_status(org=acme, item=done, status="done")

    def titles(**filters):
        return [i.title for i in services.action_items(acme, today=TODAY, **filters)]

    assert titles() == ["Done", "Late", "Soon"]  # by due date
    assert titles(owner=rep.pk) == ["Done", "Soon"]
    assert titles(status="open") == ["Late", "Soon"]
    assert titles(overdue=True) == ["Late"]  # done items are never overdue
    assert [i.pk for i in services.overdue_items(acme, today=TODAY)] == [late.pk]
    assert soon.pk not in [i.pk for i in services.overdue_items(acme, today=TODAY)]


# --- The digest ------------------------------------------------------------------------------------


def test_the_digest_goes_to_the_attendees_once(
    acme, chair, members, measured, django_capture_on_commit_callbacks
):
    earlier_review(acme, chair)
    rep = members[Role.SALES_REP]
    review = services.review_create(
        org=acme, kind="weekly", today=TODAY, attendees=[chair.pk, rep.pk], created_by=chair
    )
    decision = services.decision_add(
        org=acme, review=review, text="Cut paid social by 20 %", rationale="Low SQL rate"
    )
    services.action_add(
        org=acme, review=review, title="Move the budget", owner=rep, due="2026-11-27", decision=decision
    )
    sent = []
    with django_capture_on_commit_callbacks() as callbacks:
        services.review_hold(org=acme, review=review, today=TODAY)
    assert len(callbacks) == 1  # the digest task is queued once the hold commits

    sent.append(reviews_digest.digest_send(review_id=review.pk, today=TODAY))
    sent.append(reviews_digest.digest_send(review_id=review.pk, today=TODAY))  # a retry
    assert sent == [2, 0]
    (message,) = mail.outbox
    assert sorted(message.to) == sorted([chair.user.email, rep.user.email])
    assert message.subject == "[Acme] Weekly RevOps review: Week of 16 Nov 2026"
    body = message.body
    assert "- Cut paid social by 20 % (why: Low SQL rate)" in body
    assert f"- Move the budget — {rep.user.display_name}, due 27 Nov 2026" in body
    # Carried forward (the earlier open item) and overdue (it was due on 12 November).
    assert (
        "Carried forward from earlier reviews\n- open item — Olivia Owner, due 2026-11-12 (overdue)" in body
    )
    assert (
        "Overdue\n- open item — Olivia Owner, was due 12 Nov 2026 (Weekly RevOps review, Week of 9 Nov 2026)"
        in body
    )
    assert f"/o/acme/governance/reviews/{review.pk}/" in body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "<strong>Cut paid social by 20 %</strong>" in html
    review.refresh_from_db()
    assert review.digest_sent_at is not None
    assert review_digest_sweep() == 0  # nothing left to send


def test_a_failed_send_is_released_for_the_retry_and_planned_reviews_send_nothing(
    acme, chair, measured, monkeypatch
):
    review = services.review_create(org=acme, kind="weekly", today=TODAY, attendees=[chair.pk], propose=False)
    assert reviews_digest.digest_send(review_id=review.pk) == 0  # not held yet
    services.review_hold(org=acme, review=review, today=TODAY)

    def refuse(self, *args, **kwargs):
        raise ConnectionError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    with pytest.raises(ConnectionError):
        reviews_digest.digest_send(review_id=review.pk)
    review.refresh_from_db()
    assert review.digest_sent_at is None and mail.outbox == []
    monkeypatch.undo()
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    assert review_digest_sweep() == 1  # the sweep sends what the task could not
    assert len(mail.outbox) == 1
    assert review_digest_sweep() == 0


def test_reviews_of_another_organisation_are_not_carried(acme, chair, other_org, outsider, measured):
    theirs = services.review_create(
        org=other_org, kind="weekly", day="2026-11-10", today=TODAY, propose=False
    )
    services.action_add(
        org=other_org, review=theirs, title="Their item", owner=outsider.memberships.get(), due="2026-11-12"
    )
    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    assert not review.agenda.filter(source="carried").exists()
    assert services.carried_items(acme, review).count() == 0


def test_one_review_per_kind_and_period_in_the_database(acme, measured):
    services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        OperatingReview.objects.create(
            organization=acme, kind="weekly", period_start=datetime.date(2026, 11, 16),
            period_end=datetime.date(2026, 11, 22),
        )  # fmt: skip


def test_the_digest_tasks_are_discovered_and_the_sweep_is_scheduled():
    import apps.governance.tasks  # noqa: F401  (the module Celery discovers)
    from revops.celery import app

    assert {"governance.send_review_digest", "governance.review_digest_sweep"} <= set(app.tasks.keys())
    entries = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "governance.review_digest_sweep" in entries


def test_the_agenda_has_an_audit_trail(acme, measured):
    from apps.audit.selectors import audit_events

    review = services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    item = services.agenda_add(org=acme, review=review, title="Hiring plan")
    services.agenda_remove(org=acme, item=item)
    events = audit_events(org=acme, model="governance.AgendaItem")
    assert [event.pgh_label for event in events.order_by("pgh_created_at", "pgh_id")] == ["insert", "delete"]


def test_a_planned_reviews_leaks_are_kept_until_the_next_rollup(acme, monkeypatch):
    from apps.measurement import leaks
    from apps.measurement.services import rollup

    calls = []
    monkeypatch.setattr(
        leaks, "top_leaks", lambda org, **kwargs: calls.append(kwargs) or [f"leak {len(calls)}"]
    )
    window = {"start": TODAY - datetime.timedelta(days=6), "end": TODAY}
    assert services.top_leaks(acme, **window) == ["leak 1"]
    assert services.top_leaks(acme, **window) == ["leak 1"]  # from the cache
    assert services.top_leaks(acme, **window, fresh=True) == ["leak 2"]  # holding or proposing
    rollup.rollup(acme, full=True)  # new facts: computed again
    assert services.top_leaks(acme, **window) == ["leak 3"]
    assert len(calls) == 3
