"""Hand-offs: creation (explicit, on MQL → SAL, on a win, by the sweep), their
SLA and breach, accept / return, compliance by hand, the inbox, "no man's
land", the API and permissions."""

import csv
import io
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services as account_services
from apps.accounts.models import Team
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution import handoff_tasks
from apps.execution.models import Handoff, HandoffStatus, Notification
from apps.execution.services import handoffs
from apps.execution.services import setup as setup_services
from apps.records import services as records
from apps.records.models import Opportunity
from tests import factories

pytestmark = pytest.mark.django_db

WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


@pytest.fixture
def people(org):
    manager = factories.make_member(org, role=Role.SALES_MANAGER)
    rep = factories.make_member(org, role=Role.SALES_REP)
    other_rep = factories.make_member(org, role=Role.SALES_REP)
    marketer = factories.make_member(org, role=Role.MARKETER)
    csm = factories.make_member(org, role=Role.SALES_REP)
    sales = account_services.team_create(org=org, name="SDR", manager=manager, members=[rep])
    success = account_services.team_create(
        org=org, name="CS", kind=Team.Kind.CUSTOMER_SUCCESS, manager=manager, members=[csm]
    )
    return {
        "manager": manager, "rep": rep, "other_rep": other_rep, "marketer": marketer, "csm": csm,
        "sales": sales, "success": success,
    }  # fmt: skip


def _sal_lead(org, owner, **fields):
    lead = records.lead_create(
        org=org, email=fields.pop("email", "ann@acme.test"), first_name="Ann", company="Acme",
        country="FR", title="VP Marketing", owner=owner, **fields,
    )  # fmt: skip
    records.lead_change_stage(org=org, lead=lead, to="mql", reason="Score 80 and fits the ICP")
    return lead


def _run_tasks_now(monkeypatch):
    """Enqueued hand-off tasks run in-process, so the on-commit path is exercised whole."""
    for task in (handoff_tasks.create_handoff_for_stage_event, handoff_tasks.create_handoff_for_won):
        monkeypatch.setattr(task, "delay", task)


# --- Creating --------------------------------------------------------------------------------------


def test_marketing_to_sales_captures_the_fields_as_they_were(org, people):
    lead = _sal_lead(org, people["rep"])
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead, sender=people["marketer"])
    records.lead_update(org=org, lead=lead, title="CEO")
    handoff.refresh_from_db()
    assert handoff.fields["title"] == "VP Marketing"  # as it was when handed over
    assert handoff.fields["mql_reason"] == "Score 80 and fits the ICP"
    assert handoff.notes == "Score 80 and fits the ICP"  # the MQL reason carried across
    assert handoff.receiver == people["rep"]
    assert handoff.receiving_team == people["sales"]
    assert handoffs.missing_fields(handoff) == []
    notice = Notification.objects.get(recipient=people["rep"], kind="handoff.received")
    assert "Ann" in notice.title


def test_an_explicit_hand_off_names_the_missing_required_field(org, people):
    lead = records.lead_create(
        org=org, email="bo@acme.test", company="Acme", country="FR", owner=people["rep"]
    )
    with pytest.raises(ServiceError) as error:
        handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead)
    assert error.value.field == "title"
    automatic = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead, strict=False)
    assert handoffs.missing_fields(automatic) == ["title", "mql_reason"]


def test_moving_mql_to_sal_hands_the_lead_over_once_after_commit(
    org, people, monkeypatch, django_capture_on_commit_callbacks
):
    _run_tasks_now(monkeypatch)
    lead = _sal_lead(org, people["rep"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = records.lead_change_stage(org=org, lead=lead, to="sal")
    assert not Handoff.objects.filter(lead=lead).exists()  # nothing on the write path itself
    for callback in callbacks:
        callback()
    handoff_tasks.create_handoff_for_stage_event(org.pk, event.pk)  # a second delivery changes nothing
    handoff = Handoff.objects.get(lead=lead)
    assert handoff.kind == "mql_to_sal" and handoff.status == HandoffStatus.PENDING


def test_a_win_hands_the_account_to_customer_success(
    org, people, monkeypatch, django_capture_on_commit_callbacks
):
    _run_tasks_now(monkeypatch)
    account = records.account_create(org=org, name="Acme", domain="acme.test")
    contact = records.lead_create(org=org, email="cy@acme.test", first_name="Cy")
    opportunity = records.opportunity_create(
        org=org, name="Acme deal", account=account, primary_contact=contact, amount=12000, owner=people["rep"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        records.opportunity_update(
            org=org,
            opportunity=opportunity,
            status=Opportunity.Status.WON,
            close_date=timezone.localdate(),
        )
    with django_capture_on_commit_callbacks(execute=True):
        records.opportunity_update(org=org, opportunity=opportunity, amount=13000)  # still won: no new one
    handoff = Handoff.objects.get(opportunity=opportunity)
    assert handoff.kind == "won_to_onboarding"
    assert handoff.receiving_team == people["success"]
    assert handoff.sender == people["rep"]
    assert handoff.fields["account"] == "Acme"
    assert handoff.fields["close_date"] == timezone.localdate().isoformat()
    assert handoff.fields["primary_contact"].startswith("Cy")
    assert handoffs.missing_fields(handoff) == []


def test_history_recorded_late_hands_nothing_over(
    org, people, monkeypatch, django_capture_on_commit_callbacks
):
    """A back-dated MQL -> SAL move or an old win being imported is history, not work to hand over."""
    _run_tasks_now(monkeypatch)
    lead = _sal_lead(org, people["rep"])
    old_deal = records.opportunity_create(org=org, name="Old deal", amount=10, owner=people["rep"])
    with django_capture_on_commit_callbacks(execute=True):
        records.lead_change_stage(org=org, lead=lead, to="sal", at=timezone.now() - timedelta(days=30))
        records.opportunity_update(
            org=org, opportunity=old_deal, status=Opportunity.Status.WON,
            close_date=timezone.localdate() - timedelta(days=60),
        )  # fmt: skip
    assert handoffs.handoffs_sweep()["created"] == 0
    assert not Handoff.objects.filter(organization=org).exists()


def test_the_sweep_creates_hand_offs_whose_task_was_lost(org, people):
    lead = _sal_lead(org, people["rep"])
    records.lead_change_stage(org=org, lead=lead, to="sal")  # on-commit never fires in a test transaction
    assert handoffs.handoffs_sweep()["created"] == 1
    assert handoffs.handoffs_sweep()["created"] == 0
    assert Handoff.objects.filter(lead=lead).count() == 1


# --- Receivers are active members ---------------------------------------------------------------------

ACTIVE_ONLY = "Choose an active member of this organisation."


def _leave(member, *, how):
    """A member who can no longer act: their membership switched off, or their user account."""
    if how == "membership":
        member.is_active = False
        member.save()
    else:
        member.user.is_active = False
        member.user.save()
    return member


@pytest.mark.parametrize("how", ["membership", "user"])
def test_an_explicit_receiver_must_be_an_active_member_of_the_organisation(org, people, other_org, how):
    lead = _sal_lead(org, people["rep"])
    gone = _leave(people["other_rep"], how=how)
    stranger = factories.make_member(other_org, role=Role.SALES_REP)
    for receiver in (gone, stranger):
        with pytest.raises(ServiceError) as error:
            handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead, receiver=receiver, strict=False)
        assert (error.value.field, error.value.message) == ("receiver", ACTIVE_ONLY)
    assert not Handoff.objects.exists()
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead, receiver=people["csm"])
    assert handoff.receiver == people["csm"]


@pytest.mark.parametrize("how", ["membership", "user"])
def test_a_lead_whose_owner_left_is_handed_to_the_sales_team(
    org, people, monkeypatch, django_capture_on_commit_callbacks, how
):
    """As for a lead nobody owns: no receiver, the first sales team receives it and its manager is told."""
    _run_tasks_now(monkeypatch)
    lead = _sal_lead(org, people["rep"])
    _leave(people["rep"], how=how)
    with django_capture_on_commit_callbacks(execute=True):
        records.lead_change_stage(org=org, lead=lead, to="sal")
    lead.refresh_from_db()
    assert lead.stage.key == "sal"  # the move stands
    handoff = Handoff.objects.get(lead=lead)
    assert (handoff.receiver, handoff.receiving_team) == (None, people["sales"])
    received = Notification.objects.filter(kind="handoff.received")
    assert [n.recipient for n in received] == [people["manager"]]
    # The sweep, creating one whose task was lost, passes over them the same way.
    lost = _sal_lead(org, people["rep"], email="lost@acme.test")
    records.lead_change_stage(org=org, lead=lost, to="sal")  # on-commit never fires in a test transaction
    assert handoffs.handoffs_sweep()["created"] == 1
    assert Handoff.objects.get(lead=lost).receiver is None
    # Asked for by name, they are refused rather than passed over.
    with pytest.raises(ServiceError) as error:
        handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lost, receiver=people["rep"])
    assert error.value.field == "receiver"


def test_a_win_whose_account_owner_left_goes_to_customer_success(
    org, people, monkeypatch, django_capture_on_commit_callbacks
):
    _run_tasks_now(monkeypatch)
    account = records.account_create(org=org, name="Acme", domain="acme.test", owner=people["csm"])
    contact = records.lead_create(org=org, email="cy@acme.test", first_name="Cy")
    opportunity = records.opportunity_create(
        org=org, name="Acme deal", account=account, primary_contact=contact, amount=12000, owner=people["rep"]
    )
    _leave(people["csm"], how="membership")
    with django_capture_on_commit_callbacks(execute=True):
        records.opportunity_update(
            org=org, opportunity=opportunity, status=Opportunity.Status.WON, close_date=timezone.localdate()
        )
    opportunity.refresh_from_db()
    assert opportunity.status == Opportunity.Status.WON
    handoff = Handoff.objects.get(opportunity=opportunity)
    assert (handoff.receiver, handoff.receiving_team) == (None, people["success"])
    assert handoff.sender == people["rep"]
    received = Notification.objects.filter(kind="handoff.received")
    assert [n.recipient for n in received] == [people["manager"]]


# --- The SLA ---------------------------------------------------------------------------------------


def test_due_time_runs_on_the_policy_business_hours(org, people):
    calendar = setup_services.calendar_create(org=org, name="Paris", time_zone="UTC", hours=WEEKDAYS_9_TO_5)
    policy = setup_services.sla_policy_create(
        org=org, name="Hand-off to sales", target_minutes=60, stage="sal", calendar=calendar
    )
    friday = datetime(2026, 5, 8, 16, 30, tzinfo=UTC)
    handoff = handoffs.handoff_create(
        org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"]), at=friday
    )
    assert handoff.sla_policy == policy
    # 30 minutes on Friday, 30 more on Monday morning.
    assert handoff.due_at == datetime(2026, 5, 11, 9, 30, tzinfo=UTC)


def test_without_a_policy_the_default_target_applies(org, people):
    start = datetime(2026, 5, 8, 16, 30, tzinfo=UTC)
    handoff = handoffs.handoff_create(
        org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"]), at=start
    )
    assert handoff.sla_policy is None
    assert handoff.due_at == start + timedelta(hours=4)


def test_the_sweep_records_a_breach_once_and_alerts_the_manager(org, people):
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"]))
    later = handoff.due_at + timedelta(minutes=1)
    assert handoffs.handoffs_breach_due(now=handoff.due_at - timedelta(minutes=1)) == 0
    assert handoffs.handoffs_breach_due(now=later) == 1
    assert handoffs.handoffs_breach_due(now=later + timedelta(hours=1)) == 0  # never twice
    handoff.refresh_from_db()
    assert handoff.breached_at == later
    alerts = Notification.objects.filter(kind="handoff.breached")
    assert {n.recipient for n in alerts} == {people["manager"], people["rep"]}


def test_an_answered_hand_off_is_never_breached_by_the_sweep(org, people):
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"]))
    handoffs.handoff_accept(org=org, handoff=handoff, by=people["rep"])
    assert handoffs.handoffs_breach_due(now=handoff.due_at + timedelta(days=1)) == 0


# --- Accept and return ----------------------------------------------------------------------------


def test_return_needs_a_reason_and_tells_the_sender(org, people):
    lead = _sal_lead(org, people["rep"])
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead, sender=people["marketer"])
    with pytest.raises(ServiceError) as error:
        handoffs.handoff_return(org=org, handoff=handoff, reason="  ")
    assert error.value.field == "reason"
    returned = handoffs.handoff_return(org=org, handoff=handoff, reason="No phone number", by=people["rep"])
    assert returned.status == HandoffStatus.RETURNED and returned.return_reason == "No phone number"
    assert Notification.objects.filter(recipient=people["marketer"], kind="handoff.returned").exists()
    with pytest.raises(ServiceError) as error:
        handoffs.handoff_accept(org=org, handoff=handoff)
    assert error.value.code == "not_pending"


def test_compliance_by_hand(org, people):
    """Five hand-offs: two answered in time, one answered late, one waiting past due, one not yet due.
    met 2, breached 2, open 1: compliance 2 / 4 = 50 %; returned 1 of 3 answered."""
    now = timezone.now()
    made = [
        handoffs.handoff_create(
            org=org,
            kind="mql_to_sal",
            lead=_sal_lead(org, people["rep"], email=f"p{i}@acme.test"),
            strict=False,
        )
        for i in range(5)
    ]
    on_time, returned, late, waiting, fresh = made
    handoffs.handoff_accept(org=org, handoff=on_time)
    handoffs.handoff_return(org=org, handoff=returned, reason="Not a fit")
    Handoff.objects.filter(pk=late.pk).update(due_at=now - timedelta(hours=1))
    handoffs.handoff_accept(org=org, handoff=late)
    Handoff.objects.filter(pk=waiting.pk).update(due_at=now - timedelta(hours=1))
    result = handoffs.compliance(Handoff.objects.filter(organization=org), now=timezone.now())
    assert (result.total, result.met, result.breached, result.open) == (5, 2, 2, 1)
    assert result.rate == 0.5
    assert result.return_rate == pytest.approx(1 / 3)
    assert fresh.status == HandoffStatus.PENDING


# --- Pages -----------------------------------------------------------------------------------------


def test_inbox_lists_filters_and_exports(client, org, people):
    lead = _sal_lead(org, people["rep"])
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead, sender=people["marketer"])
    client.force_login(people["rep"].user)
    html = client.get(url("execution_handoffs", org)).content.decode()
    assert url("execution_handoff", org, handoff.pk) in html
    assert "Hand-off SLA" in html
    html = client.get(url("execution_handoffs", org), {"kind": "won_to_onboarding"}).content.decode()
    assert url("execution_handoff", org, handoff.pk) not in html
    assert "No hand-offs here" in html
    response = client.get(url("execution_handoffs_export", org))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["id", "kind", "status"]
    assert rows[1][0] == str(handoff.pk) and rows[1][2] == "Waiting for the receiver"


def test_receiver_accepts_from_the_page_and_others_cannot(client, org, people):
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"]))
    client.force_login(people["other_rep"].user)
    # Not theirs and not their team's: the same 404 as a missing one.
    assert client.get(url("execution_handoff", org, handoff.pk)).status_code == 404
    assert client.post(url("execution_handoff_accept", org, handoff.pk)).status_code == 404
    client.force_login(people["rep"].user)
    page = client.get(url("execution_handoff", org, handoff.pk)).content.decode()
    assert "VP Marketing" in page and "Score 80 and fits the ICP" in page
    client.post(url("execution_handoff_accept", org, handoff.pk))
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.ACCEPTED


def test_a_marketer_who_sent_it_sees_it_but_cannot_answer(client, org, people):
    lead = _sal_lead(org, people["rep"])
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead, sender=people["marketer"])
    client.force_login(people["marketer"].user)
    assert client.get(url("execution_handoff", org, handoff.pk)).status_code == 200
    assert client.post(url("execution_handoff_return", org, handoff.pk), {"reason": "x"}).status_code == 403


def test_return_from_the_page_needs_a_reason(client, org, people):
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"]))
    client.force_login(people["manager"].user)
    client.post(url("execution_handoff_return", org, handoff.pk), {"reason": ""})
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.PENDING
    client.post(url("execution_handoff_return", org, handoff.pk), {"reason": "Duplicate of another lead"})
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.RETURNED


# --- No man's land -----------------------------------------------------------------------------------


def test_no_mans_land_lists_unowned_and_stuck_leads_oldest_first(client, org, people):
    now = timezone.now()
    unowned = records.lead_create(org=org, email="u@acme.test", first_name="Unowned", stage="sql")
    stuck = records.lead_create(
        org=org, email="s@acme.test", first_name="Stuck", stage="mql", owner=people["rep"]
    )
    fresh = records.lead_create(
        org=org, email="f@acme.test", first_name="Fresh", stage="sal", owner=people["rep"]
    )
    customer = records.lead_create(org=org, email="c@acme.test", first_name="Customer", stage="customer")
    type(unowned).objects.filter(pk=unowned.pk).update(stage_entered_at=now - timedelta(days=1))
    type(stuck).objects.filter(pk=stuck.pk).update(stage_entered_at=now - timedelta(days=5))  # MQL limit: 3
    type(fresh).objects.filter(pk=fresh.pk).update(stage_entered_at=now - timedelta(days=2))  # SAL limit: 7
    client.force_login(people["manager"].user)
    html = client.get(url("execution_no_mans_land", org)).content.decode()
    assert "Stuck" in html and "Unowned" in html
    assert "Fresh" not in html and ">Customer<" not in html
    assert html.index("Stuck") < html.index("Unowned")  # oldest in its stage first
    assert "5 days in MQL (limit 3)" in html
    assert url("execution_lead_route", org, stuck.pk) in html  # one click: the queue's "route again"
    html = client.get(url("execution_no_mans_land", org), {"days_mql": "10"}).content.decode()
    assert "Stuck" not in html and "Unowned" in html
    response = client.get(url("execution_no_mans_land_export", org), {"days": "1"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[1] for row in rows[1:]] == ["Stuck", "Fresh", "Unowned"]
    assert customer.pk not in [int(row[0]) for row in rows[1:]]


def test_no_mans_land_is_for_people_who_route(client, org, people):
    client.force_login(people["rep"].user)
    assert client.get(url("execution_no_mans_land", org)).status_code == 403


# --- API ------------------------------------------------------------------------------------------------


def test_api_lists_accepts_and_returns(api, org, people):
    first = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"]))
    second = handoffs.handoff_create(
        org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"], email="b@acme.test")
    )
    listed = api.get("/api/v1/handoffs/", {"status": "pending"}).json()
    assert {row["id"] for row in listed["results"]} == {first.pk, second.pk}
    assert listed["results"][0]["fields"]["company"] == "Acme"
    assert api.get("/api/v1/handoffs/", {"colour": "red"}).status_code == 400
    response = api.post(f"/api/v1/handoffs/{first.pk}/accept/")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert api.post(f"/api/v1/handoffs/{first.pk}/accept/").status_code == 409
    response = api.post(f"/api/v1/handoffs/{second.pk}/return/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"]["fields"]
    response = api.post(f"/api/v1/handoffs/{second.pk}/return/", {"reason": "Spam"}, format="json")
    assert response.json()["status"] == "returned" and response.json()["return_reason"] == "Spam"


# --- Two sweepers at once ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweepers_escalate_each_breach_once(org, people):
    """Four sweepers start together on 30 overdue hand-offs: each breach is recorded and alerted once."""
    made = [
        handoffs.handoff_create(
            org=org,
            kind="mql_to_sal",
            lead=_sal_lead(org, people["rep"], email=f"c{i}@acme.test"),
            strict=False,
        )
        for i in range(30)
    ]
    now = max(h.due_at for h in made) + timedelta(minutes=1)
    counts, errors = [], []
    barrier = threading.Barrier(4)

    def sweep():
        try:
            barrier.wait(timeout=30)
            counts.append(handoffs.handoffs_breach_due(now=now, limit=5))
        except Exception as error:  # collected, so a failing thread fails the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(counts) == 30
    assert Notification.objects.filter(kind="handoff.breached", recipient=people["manager"]).count() == 30


# --- Query counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 8])
def test_list_pages_and_api_do_not_grow_with_rows(
    owner_client, api, org, people, n, django_assert_max_num_queries
):
    for i in range(n):
        lead = _sal_lead(org, people["rep"], email=f"q{i}@acme.test")
        handoffs.handoff_create(org=org, kind="mql_to_sal", lead=lead, sender=people["marketer"])
        records.lead_create(org=org, email=f"u{i}@acme.test", first_name=f"U{i}", stage="sql")
    with django_assert_max_num_queries(12):
        html = owner_client.get(url("execution_handoffs", org)).content.decode()
    assert len(re.findall(r'id="handoff-\d+"', html)) == n
    with django_assert_max_num_queries(12):
        html = owner_client.get(url("execution_no_mans_land", org)).content.decode()
    assert len(re.findall(r'id="stuck-\d+"', html)) == n
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/handoffs/").json()["results"]) == n


def test_compliance_shows_on_the_inbox(owner_client, org, people):
    handoff = handoffs.handoff_create(org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"]))
    handoffs.handoff_accept(org=org, handoff=handoff)
    late = handoffs.handoff_create(
        org=org, kind="mql_to_sal", lead=_sal_lead(org, people["rep"], email="late@acme.test")
    )
    Handoff.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    html = owner_client.get(url("execution_handoffs", org)).content.decode()
    assert "50%" in html and "(1 on time of 2 due)" in html
