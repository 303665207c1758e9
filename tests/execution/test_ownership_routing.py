"""Routing accounts and opportunities: the lead engine's rules and pools,
with ownership given at once. Expected owners are worked out by hand."""

from datetime import UTC, datetime

import pytest

from apps.execution.models import (
    Assignment,
    Notification,
    OutOfOffice,
    PoolMember,
    RoutingDecision,
    RoutingRequest,
    SlaTimer,
)
from apps.execution.routing import types
from apps.execution.services import ownership, routing
from apps.integrations.models import OutboxEvent
from apps.records import services as records
from apps.records.models import Account, Opportunity

from .conftest import make_rep, pool_rule, pool_with_reps, publish_policy

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


def route_pending(record, *, now=NOON) -> RoutingDecision | None:
    """Route the record's pending requests (on-commit routing never fires inside a test)."""
    decision = None
    for request_id in (
        RoutingRequest.objects.filter(
            status=RoutingRequest.Status.PENDING, **{ownership.object_type_of(record): record}
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        decision = routing.route_request(request_id=request_id, now=now) or decision
    record.refresh_from_db()
    return decision


def publish(org, *rules, object_type="account", fallback_pool=None):
    return publish_policy(org, rules=rules, fallback_pool=fallback_pool, object_type=object_type)


def territory_rule(pool, *countries):
    return pool_rule(pool, "Territory", {"field": "country", "op": "in", "value": list(countries)})


class TestAccounts:
    def test_a_new_unowned_account_is_given_an_owner_by_round_robin(self, org, reps):
        ana, bo, cy = reps
        pool = pool_with_reps(org, reps, name="AEs")
        publish(org, pool_rule(pool))
        owners = []
        for index in range(4):
            account = records.account_create(org=org, name=f"Acme {index}", domain=f"acme{index}.com")
            decision = route_pending(account)
            owners.append(account.owner_id)
            assert decision.outcome == types.ASSIGNED
            assert decision.account_id == account.pk and decision.lead_id is None
        # Everyone starts level, so the rotation goes by id, then comes back round.
        assert owners == [ana.pk, bo.pk, cy.pk, ana.pk]
        ledger = dict(PoolMember.objects.filter(pool=pool).values_list("membership_id", "assigned_count"))
        assert ledger == {ana.pk: 2, bo.pk: 1, cy.pk: 1}

    def test_ownership_is_given_not_offered(self, org, reps):
        pool = pool_with_reps(org, reps[:1], name="AEs")
        publish(org, pool_rule(pool))
        account = records.account_create(org=org, name="Acme", domain="acme.com")
        route_pending(account)
        assert account.owner_id == reps[0].pk
        assert not Assignment.objects.exists()
        assert not SlaTimer.objects.exists()
        event = OutboxEvent.objects.get(event_type="account.routed")
        assert event.payload["data"]["account"] == account.pk
        assert event.payload["data"]["owner"] == reps[0].pk
        note = Notification.objects.get(kind="account.routed")
        assert note.recipient_id == reps[0].pk
        assert note.url.endswith(f"/accounts/{account.pk}/")

    def test_an_account_created_with_an_owner_is_not_routed(self, org, reps):
        pool = pool_with_reps(org, reps, name="AEs")
        publish(org, pool_rule(pool))
        account = records.account_create(org=org, name="Acme", owner=reps[2])
        assert not RoutingRequest.objects.filter(account=account).exists()

    def test_no_published_account_policy_means_no_request(self, org, reps):
        # A lead policy says nothing about accounts.
        publish(org, pool_rule(pool_with_reps(org, reps, name="SDRs")), object_type="lead")
        account = records.account_create(org=org, name="Acme")
        assert not RoutingRequest.objects.filter(account=account).exists()

    def test_territory_rules_read_the_accounts_country(self, org, reps):
        ana, bo, cy = reps
        emea = pool_with_reps(org, [ana], name="EMEA")
        rest = pool_with_reps(org, [bo, cy], name="Rest")
        publish(org, territory_rule(emea, "FR", "DE"), fallback_pool=rest)
        french = records.account_create(org=org, name="Lumière", country="fr")
        american = records.account_create(org=org, name="Acme", country="US")
        assert route_pending(french).rule_name == "Territory"
        assert french.owner_id == ana.pk
        decision = route_pending(american)
        assert decision.rule_name == "Fallback queue" and american.owner_id == bo.pk
        assert decision.trail[0].startswith('Rule 1 "Territory" did not match')

    def test_sticky_gives_the_account_to_whoever_owns_its_leads(self, org, reps):
        ana, bo, cy = reps
        pool = pool_with_reps(org, [ana, bo], name="AEs")
        publish(org, {"name": "Sticky", "conditions": [], "action": {"type": "sticky", "pool": pool.pk}})
        records.lead_create(org=org, email="jo@globex.com", owner=cy)
        account = records.account_create(org=org, name="Globex", domain="globex.com")
        decision = route_pending(account)
        assert account.owner_id == cy.pk
        assert decision.trail[-1] == f'Assigned to {cy.user.display_name} by rule 1 "Sticky" (previous owner)'

    def test_out_of_office_people_are_skipped(self, org, reps):
        ana, bo, _ = reps
        pool = pool_with_reps(org, [ana, bo], name="AEs")
        publish(org, pool_rule(pool))
        OutOfOffice.objects.create(
            organization=org,
            membership=ana,
            starts_at=datetime(2026, 3, 10, tzinfo=UTC),
            ends_at=datetime(2026, 3, 13, tzinfo=UTC),
        )
        account = records.account_create(org=org, name="Acme")
        decision = route_pending(account)
        assert account.owner_id == bo.pk
        assert {c["candidate"]: c["excluded"] for c in decision.considered}[ana.pk] == types.OUT_OF_OFFICE

    def test_lead_caps_do_not_apply_and_fewest_owned_accounts_balances(self, org):
        # Ana's lead caps are reached on paper (0), but caps are for leads; she owns fewer accounts.
        ana = make_rep(org, "Ana Ruiz", daily_cap=0, open_cap=0)
        bo = make_rep(org, "Bo Lind")
        pool = pool_with_reps(org, [ana, bo], name="AEs", strategy=types.LOAD_BALANCED)
        records.account_create(org=org, name="Bo's first", owner=bo)
        records.account_create(org=org, name="Bo's second", owner=bo)
        records.account_create(org=org, name="Ana's", owner=ana)
        publish(org, pool_rule(pool))
        account = records.account_create(org=org, name="New")
        route_pending(account)
        assert account.owner_id == ana.pk

    def test_nobody_eligible_leaves_the_account_unowned_with_the_reason(self, org, reps):
        ana = reps[0]
        pool = pool_with_reps(org, [ana], name="AEs")
        publish(org, pool_rule(pool))
        routing.rep_set_available(org=org, membership=ana, available=False)
        account = records.account_create(org=org, name="Acme")
        decision = route_pending(account)
        assert decision.outcome == types.QUEUED
        assert account.owner_id is None
        assert f"{ana.user.display_name} (marked unavailable)" in " ".join(decision.trail)

    def test_an_owner_set_before_routing_runs_wins(self, org, reps):
        pool = pool_with_reps(org, reps[:1], name="AEs")
        publish(org, pool_rule(pool))
        account = records.account_create(org=org, name="Acme")
        records.account_update(org=org, account=account, owner=reps[2])
        assert route_pending(account) is None
        assert account.owner_id == reps[2].pk
        assert RoutingRequest.objects.get(account=account).status == RoutingRequest.Status.DONE

    def test_routed_on_commit_outside_a_test_transaction(self, org, reps, django_capture_on_commit_callbacks):
        pool = pool_with_reps(org, reps[:1], name="AEs")
        publish(org, pool_rule(pool))
        with django_capture_on_commit_callbacks(execute=True):
            account = records.account_create(org=org, name="Acme")
        account.refresh_from_db()
        assert account.owner_id == reps[0].pk


class TestOpportunities:
    def test_the_matched_accounts_owner_gets_the_opportunity(self, org, reps):
        ana, bo, cy = reps
        pool = pool_with_reps(org, [ana, bo], name="AEs")
        publish(
            org,
            {"name": "Account owner", "conditions": [], "action": {"type": "account_owner", "pool": pool.pk}},
            object_type="opportunity",
        )
        owned = records.account_create(org=org, name="Owned", owner=cy)
        unowned = records.account_create(org=org, name="Unowned")
        first = records.opportunity_create(org=org, name="Owned deal", account=owned, amount=1000)
        second = records.opportunity_create(org=org, name="Unowned deal", account=unowned, amount=1000)
        assert route_pending(first).trail[-1].endswith("(account owner)")
        assert first.owner_id == cy.pk
        decision = route_pending(second)
        assert "No matched account owner" in decision.trail
        assert second.owner_id == ana.pk

    def test_rules_read_amount_and_account_fields(self, org, reps):
        ana, bo, _ = reps
        big = pool_with_reps(org, [ana], name="Enterprise AEs")
        small = pool_with_reps(org, [bo], name="Commercial AEs")
        publish(
            org,
            pool_rule(big, "Big enterprise deals", {"field": "amount", "op": "gte", "value": 50000},
                      {"field": "account.employees", "op": "gt", "value": 1000}),
            fallback_pool=small,
            object_type="opportunity",
        )  # fmt: skip
        corp = records.account_create(org=org, name="Corp", employees=5000, owner=ana)
        startup = records.account_create(org=org, name="Startup", employees=20, owner=bo)
        deals = [
            records.opportunity_create(org=org, name="Big at corp", account=corp, amount=80000),
            records.opportunity_create(org=org, name="Small at corp", account=corp, amount=5000),
            records.opportunity_create(org=org, name="Big at startup", account=startup, amount=80000),
        ]
        for deal in deals:
            route_pending(deal)
        assert [deal.owner_id for deal in deals] == [ana.pk, bo.pk, bo.pk]

    def test_closed_opportunities_are_not_routed(self, org, reps):
        publish(org, pool_rule(pool_with_reps(org, reps, name="AEs")), object_type="opportunity")
        won = records.opportunity_create(
            org=org, name="History", amount=100, status=Opportunity.Status.WON, close_date=NOON.date()
        )
        assert not RoutingRequest.objects.filter(opportunity=won).exists()

    def test_sticky_follows_the_accounts_previous_opportunity(self, org, reps):
        ana, bo, cy = reps
        pool = pool_with_reps(org, [ana, bo], name="AEs")
        publish(
            org,
            {"name": "Sticky", "conditions": [], "action": {"type": "sticky", "pool": pool.pk}},
            object_type="opportunity",
        )
        account = records.account_create(org=org, name="Acme")
        records.opportunity_create(org=org, name="Last year", account=account, amount=10, owner=cy)
        renewal = records.opportunity_create(org=org, name="Renewal", account=account, amount=10)
        route_pending(renewal)
        assert renewal.owner_id == cy.pk


def test_requests_and_decisions_concern_exactly_one_record(org, reps):
    from django.db import IntegrityError, transaction

    account = Account.objects.create(organization=org, name="Acme")
    lead = records.lead_create(org=org, email="jo@acme.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        RoutingRequest.objects.create(organization=org, lead=lead, account=account, trigger="manual")
    with pytest.raises(IntegrityError), transaction.atomic():
        RoutingRequest.objects.create(organization=org, trigger="manual")


class TestApi:
    def test_an_accounts_routing_history_explains_the_owner(self, org, reps, api):
        ana = reps[0]
        pool = pool_with_reps(org, [ana], name="AEs")
        publish(org, pool_rule(pool, "Everyone"))
        account = records.account_create(org=org, name="Acme")
        route_pending(account)
        response = api.get(f"/api/v1/accounts/{account.pk}/routing/")
        assert response.status_code == 200, response.content
        [decision] = response.json()["decisions"]
        assert decision["outcome"] == "assigned"
        assert decision["trigger"] == "account_created"
        assert decision["rule_name"] == "Everyone"
        assert decision["assignee"]["id"] == ana.pk
        assert decision["policy_version"] == 1

    def test_an_opportunitys_routing_history(self, org, reps, api):
        publish(org, pool_rule(pool_with_reps(org, reps[1:2], name="AEs")), object_type="opportunity")
        deal = records.opportunity_create(org=org, name="Deal", amount=10)
        route_pending(deal)
        response = api.get(f"/api/v1/opportunities/{deal.pk}/routing/")
        assert [d["assignee"]["id"] for d in response.json()["decisions"]] == [reps[1].pk]

    def test_preview_an_account_under_the_draft_writes_nothing(self, org, reps, api):
        ana, bo, _ = reps
        publish(org, pool_rule(pool_with_reps(org, [ana], name="AEs")))
        account = records.account_create(org=org, name="Acme", country="DE")
        # A draft sends German accounts to Bo instead.
        from apps.execution.services import policies

        policies.draft_update(
            org=org,
            policy=policies.policy_for(org, "account"),
            rules=[territory_rule(pool_with_reps(org, [bo], name="DACH"), "DE")],
        )
        response = api.post("/api/v1/routing/preview/", {"account": account.pk}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["version"] == {"number": 2, "status": "draft"}
        assert body["assignee"]["id"] == bo.pk
        published = api.post(
            "/api/v1/routing/preview/", {"account": account.pk, "version": "published"}, format="json"
        ).json()
        assert published["assignee"]["id"] == ana.pk
        assert not RoutingDecision.objects.filter(account=account).exists()
        account.refresh_from_db()
        assert account.owner_id is None  # its request is still pending, untouched by the previews

    def test_preview_takes_one_subject(self, org, api):
        account = records.account_create(org=org, name="Acme")
        response = api.post("/api/v1/routing/preview/", {"lead": 1, "account": account.pk}, format="json")
        assert response.status_code == 400
        assert "account" in response.json()["error"]["fields"]

    def test_preview_without_a_policy_says_so(self, org, api):
        account = records.account_create(org=org, name="Acme")
        response = api.post(
            "/api/v1/routing/preview/", {"account": account.pk, "version": "draft"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["version"] == ["There is no draft to simulate."]

    @pytest.mark.parametrize("field", ["account", "opportunity"])
    def test_another_organisations_record_is_a_field_error(self, org, api, field):
        from tests import factories

        other = factories.make_org(name="Globex", slug="globex")
        record = (
            records.account_create(org=other, name="Secret account")
            if field == "account"
            else records.opportunity_create(org=other, name="Secret deal", amount=1)
        )
        response = api.post("/api/v1/routing/preview/", {field: record.pk}, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]
        assert "Secret" not in response.content.decode()


class TestPages:
    def test_the_account_page_explains_its_routing(self, org, reps, owner_client):
        pool = pool_with_reps(org, reps[:1], name="AEs")
        publish(org, pool_rule(pool, "Everyone to the AEs"))
        account = records.account_create(org=org, name="Acme")
        route_pending(account)
        page = owner_client.get(f"/o/{org.slug}/records/accounts/{account.pk}/").content.decode()
        assert "Everyone to the AEs" in page
        assert f"Assigned to {reps[0].user.display_name} by rule 1" in page
        assert "Route now" not in page  # it has an owner

    def test_route_now_gives_an_unowned_account_an_owner(self, org, reps, owner_client):
        account = records.account_create(org=org, name="Acme")  # before any policy: not routed
        publish(org, pool_rule(pool_with_reps(org, reps[1:2], name="AEs")))
        page = owner_client.get(f"/o/{org.slug}/records/accounts/{account.pk}/").content.decode()
        assert "Route now" in page
        response = owner_client.post(f"/o/{org.slug}/routing/queue/accounts/{account.pk}/route/", follow=True)
        account.refresh_from_db()
        assert account.owner_id == reps[1].pk
        assert f"Acme now belongs to {reps[1].user.display_name}." in response.content.decode()
        assert RoutingDecision.objects.get(account=account).trigger == "manual"

    def test_route_now_without_a_policy_says_what_to_do(self, org, owner_client):
        deal = records.opportunity_create(org=org, name="Deal", amount=5)
        page = owner_client.get(f"/o/{org.slug}/records/opportunities/{deal.pk}/").content.decode()
        assert "no opportunity routing policy is published" in page
        response = owner_client.post(
            f"/o/{org.slug}/routing/queue/opportunities/{deal.pk}/route/", follow=True
        )
        assert "Publish a routing policy for opportunity first" in response.content.decode()
        assert not RoutingDecision.objects.exists()

    def test_route_now_needs_the_reassign_permission(self, org, reps, client):
        from apps.accounts.roles import Role
        from tests import factories

        viewer = factories.make_member(org, role=Role.VIEWER)
        client.force_login(viewer.user)
        account = records.account_create(org=org, name="Acme")
        publish(org, pool_rule(pool_with_reps(org, reps[:1], name="AEs")))
        response = client.post(f"/o/{org.slug}/routing/queue/accounts/{account.pk}/route/")
        assert response.status_code == 403
        account.refresh_from_db()
        assert account.owner_id is None


def test_a_bulk_upsert_routes_its_new_records_in_one_worker_task(
    org, reps, api, django_capture_on_commit_callbacks
):
    from unittest import mock

    from apps.execution import tasks

    publish(org, pool_rule(pool_with_reps(org, reps, name="AEs")))
    items = [{"name": f"Bulk {index}", "domain": f"bulk{index}.example"} for index in range(3)]
    with (
        mock.patch.object(tasks.route_requests, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api.post("/api/v1/accounts/bulk/", {"match_on": "domain", "items": items}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["created"] == 3
    (ids,), _ = delay.call_args
    assert delay.call_count == 1 and len(ids) == 3
    assert not RoutingDecision.objects.filter(account__isnull=False).exists()  # nothing before the answer
    tasks.route_requests(ids)
    owners = sorted(Account.objects.filter(organization=org).values_list("owner_id", flat=True))
    assert owners == sorted(rep.pk for rep in reps)  # one each, in turn
