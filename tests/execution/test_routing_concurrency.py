"""Routing under concurrent writes, against the real database (no test transaction).

Eight threads create leads at once, each lead in its own transaction and routed
inline right after its commit, exactly as web requests do. The pool and profile
locks must keep the rotation fair and the caps honest, and the partial unique
index must never be needed to stop a double assignment.
"""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count

from apps.execution.models import Assignment, PoolMember, RoutingDecision, RoutingRequest
from apps.execution.services import routing
from apps.records.models import Lead

from .conftest import make_rep, new_lead, pool_rule, pool_with_reps, publish_policy

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
LEADS_PER_THREAD = 25
CAP = 10


def run_in_threads(work, n=THREADS):
    """Run `work(index)` in `n` threads started together; re-raise the first error."""
    errors = []
    barrier = threading.Barrier(n)

    def target(index):
        try:
            barrier.wait(timeout=30)
            work(index)
        except Exception as error:  # collected, so a failing thread fails the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    if errors:
        raise errors[0]


def test_concurrent_leads_are_each_routed_once_fairly_and_within_caps(org):
    uncapped = [make_rep(org, f"Rep {i}") for i in range(4)]
    capped = make_rep(org, "Capped", open_cap=CAP)
    pool = pool_with_reps(org, [*uncapped, capped])
    publish_policy(org, rules=[pool_rule(pool)])

    def create_leads(thread):
        for i in range(LEADS_PER_THREAD):
            new_lead(org, email=f"t{thread}-{i}@example.com")

    run_in_threads(create_leads)

    total = THREADS * LEADS_PER_THREAD
    leads = Lead.objects.filter(organization=org)
    assert leads.count() == total
    # Every request was routed inline; none was left for the sweep.
    assert RoutingRequest.objects.filter(organization=org, status="done").count() == total
    # Exactly one decision per lead, and it assigned.
    decisions = RoutingDecision.objects.filter(organization=org)
    per_lead = Counter(decisions.values_list("lead_id", flat=True))
    assert set(per_lead.values()) == {1} and len(per_lead) == total
    assert set(decisions.values_list("outcome", "trigger").distinct()) == {("assigned", "created")}
    # No lead has two live assignments (the index would have refused it, so look for any failure too).
    live = Assignment.objects.filter(organization=org, status__in=Assignment.LIVE)
    assert live.count() == total
    assert not live.values("lead_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    # The cap held, and the others took turns: nobody is more than one lead ahead.
    loads = Counter(live.values_list("assignee_id", flat=True))
    assert loads[capped.pk] == CAP
    shares = [loads[rep.pk] for rep in uncapped]
    assert sum(shares) == total - CAP
    assert max(shares) - min(shares) <= 1
    # The ledger agrees with the assignments.
    ledger = dict(PoolMember.objects.filter(pool=pool).values_list("membership_id", "assigned_count"))
    assert ledger == {rep.pk: loads[rep.pk] for rep in [*uncapped, capped]}


def test_one_request_routed_by_many_threads_at_once_is_decided_once(org):
    reps = [make_rep(org, f"Rep {i}") for i in range(3)]
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    # Created outside any transaction, the lead is routed inline at once; add a second
    # request by hand (autocommitted, never routed) for the threads to fight over.
    lead = new_lead(org, email="contested@example.com")
    Assignment.objects.filter(lead=lead).update(status=Assignment.Status.CLOSED)
    request = RoutingRequest.objects.create(organization=org, lead=lead, trigger="manual")
    results = []

    run_in_threads(lambda _: results.append(routing.route_request(request_id=request.pk)))

    made = [decision for decision in results if decision is not None]
    assert len(made) == 1
    assert RoutingDecision.objects.filter(request=request).count() == 1
    assert Assignment.objects.filter(lead=lead, status__in=Assignment.LIVE).count() == 1
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("done", 1)


def test_concurrent_accounts_are_each_given_one_owner_in_fair_turns(org):
    from apps.records import services as records
    from apps.records.models import Account

    reps = [make_rep(org, f"AE {i}") for i in range(3)]
    pool = pool_with_reps(org, reps, name="AEs")
    publish_policy(org, rules=[pool_rule(pool)], object_type="account")
    per_thread = 9

    def create_accounts(thread):
        for i in range(per_thread):
            records.account_create(org=org, name=f"Account {thread}-{i}")

    run_in_threads(create_accounts)

    total = THREADS * per_thread
    decisions = RoutingDecision.objects.filter(organization=org, account__isnull=False)
    per_account = Counter(decisions.values_list("account_id", flat=True))
    assert len(per_account) == total and set(per_account.values()) == {1}
    owners = Counter(Account.objects.filter(organization=org).values_list("owner_id", flat=True))
    assert None not in owners
    # 72 accounts over three AEs, in turns: exactly 24 each, and the ledger agrees.
    assert sorted(owners.values()) == [24, 24, 24]
    ledger = dict(PoolMember.objects.filter(pool=pool).values_list("membership_id", "assigned_count"))
    assert ledger == dict(owners)
