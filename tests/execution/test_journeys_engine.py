"""The journey engine: every step type, exit goals, re-entry, suppression, versions, pause and resume."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail as outbox
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.accounts import services as account_services
from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution import calendars
from apps.execution.journeys import analytics, engine, entry, mail, services
from apps.execution.models import (
    Enrollment,
    EnrollmentStatus,
    JourneyStepRun,
    Notification,
    OutboundEmail,
    Suppression,
    Task,
)
from apps.execution.services import setup as setup_services
from apps.integrations.models import OutboxEvent
from apps.integrations.services import webhook_endpoint_create
from apps.records import services as records
from apps.records.models import StageEvent
from tests import factories
from tests.execution.conftest import make_rep
from tests.execution.journey_helpers import T0, journey, lead, sweep_until_idle, template

pytestmark = pytest.mark.django_db


def enrolled(org, steps, *, lead_fields=None, **fields):
    made = journey(org, steps, **fields)
    person = lead(org, **(lead_fields or {}))
    return made, entry.enroll(org=org, journey=made, lead=person, now=T0)


def test_email_step_writes_one_outbound_email_with_merged_fields_and_an_unsubscribe_link(org):
    hello = template(org, body="Hi {{ first_name }} <b>{{ company }}</b>{{ secret }}")
    _, enrollment = enrolled(org, [{"id": "s1", "type": "email", "email": {"template": hello.pk}}])
    assert engine.sweep(now=T0) == 1
    email = OutboundEmail.objects.get()
    assert email.to == enrollment.lead.email
    assert email.subject == "Hi Ada"
    assert email.body.startswith("Hi Ada <b>Initech</b>\n")  # plain text: not escaped; unknown names empty
    token = email.body.split("/unsubscribe/")[1].split("/")[0]
    assert mail.read_unsubscribe_token(token) == (org.pk, enrollment.lead.email)
    run = JourneyStepRun.objects.get()
    assert run.idempotency_key == f"{enrollment.pk}:1:s1:1" and run.status == "done"
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED and enrollment.step_id == ""
    # The sender delivers it once through Django's e-mail backend.
    assert mail.send_due() == 1 and mail.send_due() == 0
    assert len(outbox.outbox) == 1 and outbox.outbox[0].to == [enrollment.lead.email]
    assert outbox.outbox[0].extra_headers["Message-ID"] == f"<journey-email-{email.pk}@revops>"


def test_templates_refuse_tags_that_could_reach_other_data(org):
    for body in ("{% debug %}", "{% include 'x.html' %}", "{% load static %}"):
        with pytest.raises(ServiceError) as error:
            template(org, body=body)
        assert error.value.field == "body"


def test_wait_for_a_duration_then_the_next_step_runs_when_due(org):
    hello = template(org)
    steps = [
        {"id": "w", "type": "wait", "wait": {"days": 2, "hours": 3}},
        {"id": "e", "type": "email", "email": {"template": hello.pk}},
    ]
    _, enrollment = enrolled(org, steps)
    engine.sweep(now=T0)
    enrollment.refresh_from_db()
    assert enrollment.step_id == "e" and enrollment.next_run_at == T0 + timedelta(days=2, hours=3)
    assert engine.sweep(now=T0 + timedelta(days=2)) == 0  # not due yet
    assert engine.sweep(now=T0 + timedelta(days=2, hours=3)) == 1
    assert OutboundEmail.objects.count() == 1


def test_wait_until_a_date_and_until_business_hours(org):
    _, by_date = enrolled(org, [{"id": "w", "type": "wait", "wait": {"until": "2026-03-10"}}, _task()])
    saturday = T0 + timedelta(days=5)  # Saturday 10:00 UTC: the organisation's week opens Monday 09:00
    _, by_hours = enrolled(org, [{"id": "w", "type": "wait", "wait": {"business_hours": "org"}}, _task()])
    Enrollment.objects.filter(pk=by_hours.pk).update(next_run_at=saturday)
    engine.sweep(now=saturday)
    by_date.refresh_from_db(), by_hours.refresh_from_db()
    assert by_date.next_run_at.isoformat() == "2026-03-10T09:00:00+00:00"
    assert by_hours.next_run_at.isoformat() == "2026-03-09T09:00:00+00:00"


def _task(title="Call them"):
    return {"id": "t", "type": "task", "task": {"title": title, "due_days": 2}}


WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
OWNER_HOURS = [{"id": "w", "type": "wait", "wait": {"business_hours": "owner"}}, _task()]


def test_owner_business_hours_skip_their_team_calendars_holidays_and_their_absences(org):
    """Saturday 7 March 2026, 10:00 UTC. Paris is UTC+1 until 29 March, so a Paris rep's week opens
    on Monday 9 March at 08:00 UTC, unless something keeps them away."""
    saturday = T0 + timedelta(days=5)
    on_holiday, away, free = (
        make_rep(org, name, time_zone="Europe/Paris", hours=WEEKDAYS_9_TO_5) for name in ("Hal", "Ava", "Fay")
    )
    paris = account_services.team_create(org=org, name="Paris", members=[on_holiday, away])
    berlin = account_services.team_create(org=org, name="Berlin", members=[free])
    setup_services.calendar_create(
        org=org, name="Paris", time_zone="Europe/Paris", hours=WEEKDAYS_9_TO_5, team=paris,
        holidays=[{"date": "2026-03-09", "name": "Closure"}],
    )  # fmt: skip
    # A holiday of a team the first two are not in, and a calendar with no team: neither counts for them.
    setup_services.calendar_create(
        org=org, name="Berlin", time_zone="Europe/Berlin", hours=WEEKDAYS_9_TO_5, team=berlin,
        holidays=[{"date": "2026-03-10", "name": "Berlin only"}],
    )  # fmt: skip
    setup_services.calendar_create(
        org=org, name="Head office", time_zone="UTC", hours=WEEKDAYS_9_TO_5,
        holidays=[{"date": "2026-03-10", "name": "No team"}],
    )  # fmt: skip
    # Away from Tuesday 00:00 UTC to Wednesday 12:00 UTC (13:00 in Paris, inside working hours);
    # an absence that is already over changes nothing.
    setup_services.absence_create(
        org=org, membership=away, starts_at=datetime(2026, 3, 10, tzinfo=UTC),
        ends_at=datetime(2026, 3, 11, 12, tzinfo=UTC),
    )  # fmt: skip
    setup_services.absence_create(org=org, membership=free, starts_at=T0, ends_at=T0 + timedelta(days=1))
    made = journey(org, OWNER_HOURS)
    enrollments = {
        rep: entry.enroll(org=org, journey=made, lead=lead(org, owner=rep), now=T0)
        for rep in (on_holiday, away, free)
    }
    Enrollment.objects.filter(journey=made).update(next_run_at=saturday)
    assert engine.sweep(now=saturday) == 3  # one batch
    resumes = {rep: Enrollment.objects.get(pk=e.pk).next_run_at.isoformat() for rep, e in enrollments.items()}
    # Monday is the Paris team's holiday: Tuesday 09:00 in Paris.
    assert resumes[on_holiday] == "2026-03-10T08:00:00+00:00"
    # Monday is a holiday and Tuesday morning falls in the absence: back when it ends.
    assert resumes[away] == "2026-03-11T12:00:00+00:00"
    # The Berlin team's holiday is Tuesday; Monday 09:00 in Paris is free.
    assert resumes[free] == "2026-03-09T08:00:00+00:00"
    run = JourneyStepRun.objects.get(enrollment=enrollments[away])
    assert run.detail == {"until": "2026-03-11T12:00:00+00:00"}


def test_an_owner_without_a_routing_profile_gets_the_default_week_less_their_holidays(org):
    """No profile: Monday to Friday 9 to 5 in the user's zone, else the organisation's (UTC here)."""
    rep = factories.make_member(org, role=Role.SALES_REP)
    team = account_services.team_create(org=org, name="SDR", members=[rep])
    setup_services.calendar_create(
        org=org, name="SDR", time_zone="UTC", hours=WEEKDAYS_9_TO_5, team=team,
        holidays=[{"date": "2026-03-09", "name": "Team day"}, {"date": "2026-03-10", "name": "Offsite"}],
    )  # fmt: skip
    made = journey(org, OWNER_HOURS)
    enrollment = entry.enroll(org=org, journey=made, lead=lead(org, owner=rep), now=T0)
    saturday = T0 + timedelta(days=5)
    Enrollment.objects.filter(pk=enrollment.pk).update(next_run_at=saturday)
    engine.sweep(now=saturday)
    enrollment.refresh_from_db()
    assert enrollment.next_run_at.isoformat() == "2026-03-11T09:00:00+00:00"


def test_owner_business_hours_cost_the_same_queries_for_one_owner_or_many(org):
    made = journey(org, OWNER_HOURS)
    team = account_services.team_create(org=org, name="Paris")
    setup_services.calendar_create(
        org=org, name="Paris", time_zone="Europe/Paris", hours=WEEKDAYS_9_TO_5, team=team,
        holidays=[{"date": "2026-03-09", "name": "Closure"}],
    )  # fmt: skip
    names = iter(range(100))

    def sweep_new_owners(count):
        reps = [make_rep(org, f"Rep {next(names)}", time_zone="Europe/Paris") for _ in range(count)]
        account_services.team_set_members(org=org, team=team, members=[*team.members.all(), *reps])
        for rep in reps:
            setup_services.absence_create(
                org=org, membership=rep, starts_at=T0, ends_at=T0 + timedelta(hours=1)
            )
            entry.enroll(org=org, journey=made, lead=lead(org, owner=rep), now=T0)
        with CaptureQueriesContext(connection) as queries:
            assert engine.sweep(now=T0) == count
        sweep_until_idle(T0 + timedelta(hours=1))  # their task steps, so the next sweep claims only new ones
        return len(queries)

    sweep_new_owners(1)  # warm
    assert sweep_new_owners(1) == sweep_new_owners(4)
    assert Enrollment.objects.filter(journey=made, status=EnrollmentStatus.COMPLETED).count() == 6


def test_next_open_outside_steps_over_overlapping_absences():
    schedule = calendars.schedule_from(time_zone="UTC", hours_json=WEEKDAYS_9_TO_5)
    monday = datetime(2026, 3, 9, 7, tzinfo=UTC)

    def at(day, hour):
        return datetime(2026, 3, day, hour, tzinfo=UTC)

    assert calendars.next_open_outside(schedule, monday, []) == at(9, 9)
    # 09:00-12:00, then 11:00-Tuesday 10:00 (overlapping, given out of order): Tuesday 10:00.
    absences = [(at(9, 11), at(10, 10)), (at(9, 9), at(9, 12))]
    assert calendars.next_open_outside(schedule, monday, absences) == at(10, 10)
    # An absence ending after hours on Friday: the next Monday morning.
    assert calendars.next_open_outside(schedule, at(13, 10), [(at(13, 8), at(13, 18))]) == at(16, 9)


def test_branch_on_a_condition_and_on_a_segment(org):
    steps = [
        {"id": "b", "type": "branch", "branch": {
            "conditions": [{"field": "country", "op": "equals", "value": "FR"}], "then": "t", "else": "end"}},
        {"id": "n", "type": "notify", "notify": {"title": "never reached", "to": "owner"}},
        _task(),
    ]  # fmt: skip
    made = journey(org, steps)
    french, german = lead(org, country="FR"), lead(org, country="DE")
    for person in (french, german):
        entry.enroll(org=org, journey=made, lead=person, now=T0)
    sweep_until_idle(T0)
    assert list(Task.objects.values_list("lead_id", flat=True)) == [french.pk]
    assert not Notification.objects.exists()
    runs = {r.enrollment.lead_id: r.detail for r in JourneyStepRun.objects.filter(step_id="b")}
    assert runs[french.pk] == {"matched": True, "to": "t"} and runs[german.pk] == {
        "matched": False,
        "to": "end",
    }


def test_branch_on_segment_membership(org):
    from apps.strategy.models import Segment, SegmentMembership

    segment = Segment.objects.create(organization=org, key="icp", name="ICP")
    inside, outside = lead(org), lead(org)
    SegmentMembership.objects.create(organization=org, segment=segment, lead=inside, since=T0)
    made = journey(org, [{"id": "b", "type": "branch", "branch": {"segment": "icp", "else": "end"}}, _task()])
    for person in (inside, outside):
        entry.enroll(org=org, journey=made, lead=person, now=T0)
    sweep_until_idle(T0)
    assert list(Task.objects.values_list("lead_id", flat=True)) == [inside.pk]


def test_update_step_moves_the_stage_through_the_records_service(org):
    _, enrollment = enrolled(
        org, [{"id": "u", "type": "update", "update": {"field": "stage", "value": "mql"}}]
    )
    engine.sweep(now=T0)
    event = StageEvent.objects.get(lead=enrollment.lead, to_stage="mql")
    assert event.origin == "automation" and event.reason.startswith("Journey: ")
    assert OutboxEvent.objects.filter(event_type="stage.changed").exists()


def test_update_step_changes_a_field(org):
    _, enrollment = enrolled(org, [{"id": "u", "type": "update", "update": {"field": "score", "value": 70}}])
    engine.sweep(now=T0)
    enrollment.lead.refresh_from_db()
    assert enrollment.lead.score == 70


def test_task_goes_to_the_leads_owner_and_notify_to_the_journey_owner(org, owner):
    rep = factories.make_member(org)
    owner_membership = Membership.objects.get(organization=org, user=owner)
    steps = [_task(), {"id": "n", "type": "notify", "notify": {"title": "Look", "to": "journey_owner"}}]
    made = journey(org, steps, owner=owner_membership)
    person = lead(org, owner=rep)
    entry.enroll(org=org, journey=made, lead=person, now=T0)
    sweep_until_idle(T0)
    task = Task.objects.get()
    assert (
        task.assignee == rep and task.due == (T0 + timedelta(days=2)).date() and task.step_run.step_id == "t"
    )
    note = Notification.objects.get()
    assert note.recipient == owner_membership and note.title == "Look" and note.lead == person


def test_webhook_step_emits_one_outbox_event_for_its_endpoint(org):
    endpoint = webhook_endpoint_create(org=org, url="https://hooks.example.com/in")
    _, enrollment = enrolled(org, [{"id": "h", "type": "webhook", "webhook": {"endpoint": endpoint.pk}}])
    engine.sweep(now=T0)
    event = OutboxEvent.objects.get(event_type="journey.webhook")
    assert event.endpoint == endpoint and event.payload["data"]["lead"] == enrollment.lead.pk
    assert JourneyStepRun.objects.get().detail["event"] == event.pk


def test_a_failing_step_is_retried_with_back_off_and_leaves_nothing_behind(org, monkeypatch):
    _, enrollment = enrolled(org, [_task(), {"id": "n", "type": "notify", "notify": {"title": "x"}}])

    def boom(*args, **kwargs):
        raise RuntimeError("mail server on fire")

    monkeypatch.setattr(engine, "_notify", boom)
    monkeypatch.setitem(engine.RUNNERS, "notify", boom)
    engine.sweep(now=T0)  # the task step, then the notify step in the same claim
    enrollment.refresh_from_db()
    assert enrollment.attempts == 1 and "on fire" in enrollment.last_error
    assert enrollment.next_run_at == T0 + engine.RETRY_BASE and enrollment.step_id == "n"
    assert list(JourneyStepRun.objects.values_list("step_id", flat=True)) == ["t"]  # the task stays done
    assert Task.objects.count() == 1

    engine.sweep(now=T0 + engine.RETRY_BASE)  # still failing: the back-off doubles
    enrollment.refresh_from_db()
    assert enrollment.attempts == 2
    assert enrollment.next_run_at == T0 + 3 * engine.RETRY_BASE and enrollment.step_id == "n"
    assert JourneyStepRun.objects.filter(step_id="n").count() == 0 and Task.objects.count() == 1


def test_step_validation_names_the_field(org):
    bad = [
        ([{"id": "a", "type": "wait", "wait": {}}], "steps[0].wait.days"),
        ([_task(), {"id": "b", "type": "wait", "wait": {"days": "x"}}], "steps[1].wait.days"),
        ([{"id": "a", "type": "email", "email": {"template": 999999}}], "steps[0].email.template"),
        ([{"id": "a", "type": "branch", "branch": {"segment": ""}}], "steps[0].branch.conditions"),
        ([{"id": "a", "type": "branch", "branch": {"segment": "icp", "then": "zz"}}], "steps[0].branch.then"),
        ([{"id": "a", "type": "update", "update": {"field": "stage"}}], "steps[0].update.value"),
        ([{"id": "a", "type": "teleport"}], "steps[0].type"),
        ([_task(), _task()], "steps[1].id"),
    ]  # fmt: skip
    for steps, field in bad:
        with pytest.raises(ServiceError) as error:
            services.journey_create(org=org, name="x", motion="nurture", draft_steps=steps)
        assert error.value.field == field, (steps, error.value.field)


# --- Exit goals --------------------------------------------------------------------


def _long_journey(org, goals):
    return journey(org, [{"id": "w", "type": "wait", "wait": {"days": 1}}, _task()], exit_goals=goals)


def test_exit_goal_stage_reached_ends_the_enrolment_before_its_next_step(org):
    made = _long_journey(org, [{"type": "stage_reached", "stage": "sql"}])
    person = lead(org)
    enrollment = entry.enroll(org=org, journey=made, lead=person, now=T0)
    engine.sweep(now=T0)
    records.lead_change_stage(org=org, lead=person, to="opportunity")  # later than sql: reached
    engine.sweep(now=T0 + timedelta(days=1))
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == (EnrollmentStatus.EXITED, "stage_reached")
    assert not Task.objects.exists()


def test_due_steps_run_back_to_back_in_one_claim_up_to_the_chain_limit(org):
    steps = [_task(f"Call {n}") | {"id": f"t{n}"} for n in range(engine.MAX_CHAIN + 2)]
    _, enrollment = enrolled(org, steps)
    assert engine.sweep(now=T0) == 1
    assert Task.objects.count() == engine.MAX_CHAIN
    enrollment.refresh_from_db()
    assert enrollment.step_id == f"t{engine.MAX_CHAIN}" and enrollment.next_run_at == T0
    assert engine.sweep(now=T0) == 1 and engine.sweep(now=T0) == 0
    assert Task.objects.count() == engine.MAX_CHAIN + 2
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED


def test_an_update_step_ends_the_chain_so_a_goal_it_meets_is_checked_before_the_next_step(org):
    hello = template(org)
    _, enrollment = enrolled(
        org,
        [
            {"id": "u", "type": "update", "update": {"field": "stage", "value": "sql"}},
            {"id": "e", "type": "email", "email": {"template": hello.pk}},
        ],
        exit_goals=[{"type": "stage_reached", "stage": "sql"}],
    )
    assert engine.sweep(now=T0) == 1
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.step_id) == (EnrollmentStatus.ACTIVE, "e")
    assert engine.sweep(now=T0) == 1
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == (EnrollmentStatus.EXITED, "stage_reached")
    assert not OutboundEmail.objects.exists()
    assert list(JourneyStepRun.objects.values_list("step_id", flat=True)) == ["u"]


def test_exit_goals_reply_unsubscribe_and_opportunity(org):
    made = _long_journey(
        org, [{"type": "replied"}, {"type": "unsubscribed"}, {"type": "opportunity_created"}]
    )
    account = records.account_create(org=org, name="Buyer")
    replier, leaver, buyer, stayer = lead(org), lead(org), lead(org, account=account), lead(org)
    enrollments = {
        p.pk: entry.enroll(org=org, journey=made, lead=p, now=T0) for p in (replier, leaver, buyer, stayer)
    }
    engine.sweep(now=T0)
    records.touchpoint_create(org=org, lead=replier, type="reply", occurred_at=T0 + timedelta(hours=1))
    records.touchpoint_create(
        org=org, lead=stayer, type="reply", occurred_at=T0 - timedelta(days=3)
    )  # before
    services.suppression_add(org=org, email=leaver.email)
    records.opportunity_create(org=org, name="Deal", account=account, created_date=T0.date())
    engine.sweep(now=T0 + timedelta(days=1))
    reasons = dict(Enrollment.objects.values_list("lead_id", "exit_reason"))
    assert reasons == {
        replier.pk: "replied",
        leaver.pk: "unsubscribed",
        buyer.pk: "opportunity_created",
        stayer.pk: "",
    }
    assert enrollments and Task.objects.get().lead == stayer


def test_a_goal_met_during_a_wait_ends_the_enrolment_at_once(org):
    """No sweep runs between the goal and the check: the write that meets the goal ends the enrolment."""
    made = _long_journey(
        org,
        [{"type": "stage_reached", "stage": "sql"}, {"type": "replied"}, {"type": "unsubscribed"},
         {"type": "opportunity_created"}],
    )  # fmt: skip
    account = records.account_create(org=org, name="Buyer")
    qualified, replier, leaver, buyer, waiting = (
        lead(org),
        lead(org),
        lead(org),
        lead(org, account=account),
        lead(org),
    )
    for person in (qualified, replier, leaver, buyer, waiting):
        entry.enroll(org=org, journey=made, lead=person, now=T0)
    engine.sweep(now=T0)  # everyone is now in the one-day wait
    due = T0 + timedelta(days=1)
    assert set(Enrollment.objects.values_list("next_run_at", flat=True)) == {due}

    records.lead_change_stage(org=org, lead=qualified, to="sql")
    records.lead_change_stage(org=org, lead=waiting, to="mql")  # not the goal's stage: keeps waiting
    records.touchpoint_create(org=org, lead=replier, type="reply")
    services.suppression_add(org=org, email=leaver.email)
    records.opportunity_create(org=org, name="Deal", account=account, amount=10)

    rows = {
        row[0]: row[1:]
        for row in Enrollment.objects.values_list("lead_id", "status", "exit_reason", "next_run_at")
    }
    assert rows == {
        qualified.pk: ("exited", "stage_reached", None),
        replier.pk: ("exited", "replied", None),
        leaver.pk: ("exited", "unsubscribed", None),
        buyer.pk: ("exited", "opportunity_created", None),
        waiting.pk: ("active", "", due),
    }


# --- Entry, re-entry and suppression ------------------------------------------------


def test_reentry_policies(org):
    for policy, days, expected in (
        ("never", None, "no_reentry"),
        ("after_days", 7, "too_soon"),
        ("always", None, ""),
    ):
        made = journey(org, [_task()], reentry=policy, reentry_days=days)
        person = lead(org)
        entry.enroll(org=org, journey=made, lead=person, now=T0)
        with pytest.raises(ServiceError) as error:
            entry.enroll(org=org, journey=made, lead=person, now=T0)
        assert error.value.code == "already_enrolled"
        sweep_until_idle(T0)
        later = T0 + timedelta(days=3)
        assert entry.refusal(journey=made, lead=person, now=later) == expected
        if policy == "after_days":
            assert entry.refusal(journey=made, lead=person, now=T0 + timedelta(days=7, seconds=1)) == ""


def test_suppressed_addresses_and_customers_are_kept_out(org):
    made = journey(org, [_task()], suppress_customers=True)
    unsubscribed = lead(org)
    services.suppression_add(org=org, email=unsubscribed.email.upper())
    account = records.account_create(org=org, name="Paying")
    records.customer_create(org=org, account=account, arr=1000, start_date=T0.date() - timedelta(days=30))
    customer = lead(org, account=account)
    for person, code in ((unsubscribed, "suppressed"), (customer, "customer")):
        with pytest.raises(ServiceError) as error:
            entry.enroll(org=org, journey=made, lead=person, now=T0)
        assert error.value.code == code
    # A journey for customers (no suppress_customers) takes them.
    assert entry.enroll(org=org, journey=journey(org, [_task()]), lead=customer, now=T0)


def test_an_email_to_an_address_unsubscribed_after_entry_is_skipped(org):
    hello = template(org)
    _, enrollment = enrolled(org, [{"id": "e", "type": "email", "email": {"template": hello.pk}}])
    services.suppression_add(org=org, email=enrollment.lead.email)
    engine.sweep(now=T0)
    assert not OutboundEmail.objects.exists()
    assert JourneyStepRun.objects.get().status == "skipped"


def test_unsubscribe_token_adds_a_suppression_and_a_forged_one_does_nothing(org):
    token = mail.unsubscribe_token(org_id=org.pk, email="a@example.com")
    assert services.unsubscribe(token=token).email == "a@example.com"
    assert services.unsubscribe(token=token[:-2] + "xx") is None
    assert Suppression.objects.count() == 1
    other = mail.unsubscribe_token(org_id=org.pk + 1, email="a@example.com")
    assert mail.read_unsubscribe_token(other[: other.index(":")] + token[token.index(":") :]) is None


def test_unsubscribe_links_in_the_earlier_long_form_still_work(org):
    from django.core import signing

    old = signing.dumps({"o": org.pk, "e": "b:c@example.com"}, salt=mail.UNSUBSCRIBE_SALT, compress=True)
    assert mail.read_unsubscribe_token(old) == (org.pk, "b:c@example.com")
    assert mail.read_unsubscribe_token(old[:-2] + "xx") is None
    new = mail.unsubscribe_token(org_id=org.pk, email="b:c@example.com")
    assert len(new) < len(old) and mail.read_unsubscribe_token(new) == (org.pk, "b:c@example.com")


@pytest.fixture
def no_clock_skew(monkeypatch):
    """Read rows written a moment ago: the test's clock is the database's."""
    monkeypatch.setattr(entry, "CLOCK_SKEW", timedelta(0))


@pytest.mark.usefixtures("no_clock_skew")
def test_entry_pass_enrols_on_stage_reached_and_touchpoints_once(org):
    on_stage = journey(org, [_task()], entry={"type": "stage_reached", "stage": "mql"})
    on_touch = journey(org, [_task()], entry={"type": "touchpoint", "touch_type": "webinar"})
    person, other = lead(org), lead(org)
    records.lead_change_stage(org=org, lead=person, to="mql")
    records.touchpoint_create(org=org, lead=other, type="webinar")
    records.touchpoint_create(org=org, lead=other, type="form")
    assert entry.entry_pass(now=T0) == 2
    assert entry.entry_pass(now=T0) == 0  # the watermark moved on
    assert Enrollment.objects.get(journey=on_stage).lead == person
    assert Enrollment.objects.get(journey=on_touch).lead == other


@pytest.mark.usefixtures("no_clock_skew")
def test_entry_pass_enrols_segment_joins(org):
    from apps.strategy.models import Segment, SegmentMembership

    segment = Segment.objects.create(organization=org, key="emea", name="EMEA")
    made = journey(org, [_task()], entry={"type": "segment_joined", "segment": "emea"})
    person = lead(org)
    SegmentMembership.objects.create(organization=org, segment=segment, lead=person, since=T0)
    assert entry.entry_pass(now=T0) == 1
    assert Enrollment.objects.get(journey=made).source == "segment_joined"


def test_entry_pass_leaves_rows_within_the_clock_skew_for_the_next_pass(org, monkeypatch):
    journey(org, [_task()], entry={"type": "stage_reached", "stage": "mql"})
    records.lead_change_stage(org=org, lead=lead(org), to="mql")
    monkeypatch.setattr(entry, "CLOCK_SKEW", timedelta(minutes=5))
    assert entry.entry_pass(now=T0) == 0  # written a moment ago: a server behind the clock may add more
    monkeypatch.setattr(entry, "CLOCK_SKEW", timedelta(0))
    assert entry.entry_pass(now=T0) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_clock_skew")
def test_a_stage_change_committed_late_is_read_late_never_skipped(org):
    made = journey(org, [_task()], entry={"type": "stage_reached", "stage": "mql"})
    early, late = lead(org), lead(org)
    written, release = threading.Event(), threading.Event()

    def long_transaction():  # an import, say: writes late's event first, commits last
        try:
            with transaction.atomic():
                records.lead_change_stage(org=org, lead=late, to="mql")
                written.set()
                release.wait(30)
        finally:
            connection.close()

    worker = threading.Thread(target=long_transaction)
    worker.start()
    try:
        assert written.wait(30)
        records.lead_change_stage(org=org, lead=early, to="mql")  # written after, committed first
        # Reading early's row now would move the watermark past late's: wait for the writer instead.
        assert entry.entry_pass(now=T0) == 0
    finally:
        release.set()
        worker.join(30)
    assert entry.entry_pass(now=T0) == 2
    assert sorted(Enrollment.objects.filter(journey=made).values_list("lead_id", flat=True)) == sorted(
        [early.pk, late.pk]
    )
    assert entry.entry_pass(now=T0) == 0


def test_event_entry_matches_by_name(org):
    made = journey(org, [_task()], entry={"type": "event", "name": "trial_started"})
    journey(org, [_task()], entry={"type": "event", "name": "other"})
    person = lead(org)
    assert [e.journey for e in entry.enroll_event(org=org, name="trial_started", lead=person)] == [made]


# --- Versions, pause and resume ------------------------------------------------------


def test_running_enrolments_finish_on_their_version(org):
    steps_v1 = [{"id": "w", "type": "wait", "wait": {"days": 1}}, _task("v1 task")]
    made = journey(org, steps_v1)
    old = entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    engine.sweep(now=T0)
    services.journey_update(org=org, journey=made, draft_steps=[_task("v2 task")])
    version = services.journey_publish(org=org, journey=made)
    assert version.number == 2
    new = entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    sweep_until_idle(T0 + timedelta(days=1))
    assert dict(Task.objects.values_list("lead_id", "title")) == {
        old.lead_id: "v1 task",
        new.lead_id: "v2 task",
    }
    assert JourneyStepRun.objects.filter(enrollment=old).last().idempotency_key == f"{old.pk}:1:t:1"
    assert JourneyStepRun.objects.get(enrollment=new).idempotency_key == f"{new.pk}:2:t:1"


def test_a_paused_journey_is_not_swept_and_resumes_where_it_was(org):
    made = journey(org, [_task()])
    enrollment = entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    services.journey_pause(org=org, journey=made)
    assert engine.sweep(now=T0) == 0
    with pytest.raises(ServiceError):
        entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    services.journey_resume(org=org, journey=made)
    assert engine.sweep(now=T0) == 1
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED


def test_an_archived_journey_lets_its_enrolments_go_and_takes_nobody_new(org):
    made = journey(org, [_task()])
    running = entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    other = journey(org, [_task()])
    elsewhere = entry.enroll(org=org, journey=other, lead=lead(org), now=T0)
    services.journey_archive(org=org, journey=made)
    running.refresh_from_db()
    assert (running.status, running.exit_reason, running.next_run_at) == ("exited", "archived", None)
    assert running.finished_at is not None
    with pytest.raises(ServiceError):
        entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    with pytest.raises(ServiceError):
        services.journey_archive(org=org, journey=made)
    assert engine.sweep(now=T0) == 1  # only the other journey's enrolment runs
    elsewhere.refresh_from_db()
    assert elsewhere.status == EnrollmentStatus.COMPLETED
    stats = analytics.journey_stats(org=org, journey=made)
    assert (stats.entered, stats.active, stats.exited, stats.converted) == (1, 0, {"archived": 1}, 0)


def test_a_branch_looping_back_starts_a_new_pass_with_fresh_keys(org):
    steps = [
        _task(),
        {"id": "b", "type": "branch", "branch": {
            "conditions": [{"field": "country", "op": "equals", "value": "FR"}], "then": "t"}},
    ]  # fmt: skip
    _, enrollment = enrolled(org, steps, lead_fields={"country": "FR"})
    sweep_until_idle(T0)
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.FAILED and enrollment.exit_reason == "Looped too many times"
    keys = list(JourneyStepRun.objects.filter(step_id="t").values_list("idempotency_key", flat=True))
    assert len(keys) == engine.MAX_PASSES and len(set(keys)) == engine.MAX_PASSES


def test_an_experiment_on_an_email_step_sends_each_lead_its_variant_once(org, other_org):
    from apps.execution.models import ExperimentAssignment
    from apps.execution.services import experiments

    control = template(org)
    offer = template(org, name="Offer", body="An offer for {{ company }}")
    made = journey(org, [{"id": "s1", "type": "email", "email": {"template": control.pk}}])
    variants = [
        {"key": "a", "name": "Control"},
        {"key": "b", "name": "Offer", "template": offer.pk, "subject": "A seat for {{ company }}"},
    ]
    test = experiments.experiment_create(
        org=org, name="Offer test", journey=made, step_id="s1", variants=variants,
        goal={"type": "opportunity_created"},
    )  # fmt: skip
    experiments.experiment_start(org=org, experiment=test)
    people = [lead(org) for _ in range(12)]
    for person in people:
        entry.enroll(org=org, journey=made, lead=person, now=T0)
    sweep_until_idle(T0)

    expected = {person.pk: experiments.pick(test, person.pk) for person in people}
    assert set(expected.values()) == {"a", "b"}  # both arms get people with twelve leads
    assigned = dict(ExperimentAssignment.objects.filter(experiment=test).values_list("lead_id", "variant"))
    assert assigned == expected
    for email in OutboundEmail.objects.filter(organization=org):
        if expected[email.lead_id] == "b":
            assert (email.subject, email.body.split("\n")[0]) == (
                "A seat for Initech",
                "An offer for Initech",
            )
        else:
            assert (email.subject, email.body.split("\n")[0]) == ("Hi Ada", "Hello Ada at Initech")
    runs = JourneyStepRun.objects.filter(enrollment__journey=made)
    assert {run.detail["variant"] for run in runs} == {"a", "b"}

    # A variant can only point at this organisation's templates.
    theirs = template(other_org)
    with pytest.raises(ServiceError) as error:
        experiments.experiment_create(
            org=org, name="Theirs", journey=made, step_id="s1", goal={"type": "opportunity_created"},
            variants=[variants[0], {**variants[1], "template": theirs.pk}],
        )  # fmt: skip
    assert error.value.field == "variants[1].template"


def test_a_draft_experiment_leaves_the_email_step_as_it_is(org):
    from apps.execution.models import ExperimentAssignment
    from apps.execution.services import experiments

    control = template(org)
    made = journey(org, [{"id": "s1", "type": "email", "email": {"template": control.pk}}])
    experiments.experiment_create(
        org=org, name="Not yet", journey=made, step_id="s1",
        variants=[{"key": "a", "name": "Control"}, {"key": "b", "name": "B", "subject": "Other"}],
        goal={"type": "opportunity_created"},
    )  # fmt: skip
    entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    sweep_until_idle(T0)
    assert OutboundEmail.objects.get().subject == "Hi Ada"
    assert not ExperimentAssignment.objects.exists()
