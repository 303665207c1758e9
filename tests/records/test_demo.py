"""The demo organisation's records: believable, consistent with the services, idempotent.

The database tests seed at scale 0.05 (1,000 leads) to stay fast; the issue's
full-size numbers are checked on the simulation alone, which needs no database.
"""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min
from django.utils import timezone

from apps.accounts import demo as accounts_demo
from apps.accounts.roles import Role
from apps.records import demo, quality, services
from apps.records.models import (
    Account,
    Customer,
    DuplicateCandidate,
    Lead,
    ObjectType,
    Opportunity,
    SourceMapping,
    StageEvent,
    Touchpoint,
)
from apps.records.normalize import FREE_MAIL_DOMAINS, email_domain

SCALE = 0.05


def test_the_default_scale_plans_the_issue_numbers():
    expected = dict(accounts=5000, leads=20000, opportunities=1500, customers=300, touchpoints=60000)
    assert demo.planned_counts() == expected
    # The simulation (no database) honours the plan exactly.
    built = demo.build().counts()
    assert {name: built[name] for name in expected} == expected
    assert 1.5 <= built["stage_events"] / built["leads"] <= 3
    assert 100 <= built["duplicates"] <= 600


@pytest.fixture
def seeded(db):
    org = accounts_demo.seed_people()
    counts = demo.seed_records(org, scale=SCALE)
    return org, counts


def _entered(org) -> dict[str, set[int]]:
    stages = {}
    for lead_id, to_stage in StageEvent.objects.for_org(org).values_list("lead_id", "to_stage"):
        stages.setdefault(to_stage, set()).add(lead_id)
    return stages


def test_counts_are_the_plan_at_any_scale(seeded):
    org, counts = seeded
    planned = demo.planned_counts(SCALE)
    assert {name: counts[name] for name in planned} == planned
    assert Account.objects.for_org(org).count() == planned["accounts"]
    assert Lead.objects.for_org(org).count() == planned["leads"]
    assert Opportunity.objects.for_org(org).count() == planned["opportunities"]
    assert Customer.objects.for_org(org).count() == planned["customers"]
    assert Touchpoint.objects.for_org(org).count() == planned["touchpoints"]
    assert StageEvent.objects.for_org(org).count() == counts["stage_events"]
    churned = Customer.objects.for_org(org).filter(churn_date__isnull=False).count()
    assert 1 <= churned <= 0.2 * planned["customers"]


def test_the_funnel_converts_as_designed(seeded):
    org, _ = seeded
    entered = _entered(org)

    def rate(a, b):
        return len(entered[a] & entered[b]) / len(entered[a])

    assert 0.25 <= rate("inquiry", "mql") <= 0.42
    assert 0.50 <= rate("mql", "sal") <= 0.70
    assert 0.35 <= rate("sal", "sql") <= 0.60
    assert 0.50 <= rate("sql", "opportunity") <= 0.85
    assert 0.12 <= rate("opportunity", "customer") <= 0.40
    # Detours: re-entries through Recycled, skipped stages, disqualifications with reasons.
    reentered = StageEvent.objects.for_org(org).filter(to_stage="mql").values("lead").annotate(n=Count("id"))
    assert any(row["n"] > 1 for row in reentered)
    assert StageEvent.objects.for_org(org).filter(from_stage="inquiry", to_stage="sal").exists()
    disqualified = StageEvent.objects.for_org(org).filter(to_stage="disqualified")
    assert disqualified.exists() and not disqualified.filter(reason="").exists()
    assert set(StageEvent.objects.for_org(org).values_list("origin", flat=True)) == {
        "api",
        "import",
        "ui",
        "automation",
    }


def test_every_history_starts_from_nothing_and_ends_at_the_current_stage(seeded):
    org, _ = seeded
    first, last = {}, {}
    for lead_id, from_stage, to_stage in (
        StageEvent.objects.for_org(org).order_by("at", "id").values_list("lead_id", "from_stage", "to_stage")
    ):
        first.setdefault(lead_id, from_stage)
        last[lead_id] = to_stage
    leads = dict(Lead.objects.for_org(org).values_list("pk", "stage__key"))
    assert set(first) == set(leads)
    assert set(first.values()) == {""}
    assert last == leads
    # Consecutive events chain: each starts where the previous ended.
    previous = {}
    for lead_id, from_stage, to_stage in (
        StageEvent.objects.for_org(org).order_by("at", "id").values_list("lead_id", "from_stage", "to_stage")
    ):
        assert from_stage == previous.get(lead_id, "")
        previous[lead_id] = to_stage


def test_records_are_what_the_services_would_write(seeded):
    org, _ = seeded
    now = timezone.now()
    year_ago = now - timedelta(days=366)
    mapped = set(SourceMapping.objects.for_org(org).values_list("raw_value", flat=True))
    expected = {"google", "cpc", "linkedin", "li", "newsletter", "organic", "partner", "event", "direct"}
    assert expected <= mapped
    reps = set(Lead.objects.for_org(org).exclude(owner=None).values_list("owner__role", flat=True))
    assert reps == {Role.SALES_REP}
    leads = Lead.objects.for_org(org).select_related("stage", "account")
    for lead in leads[:300]:
        assert lead.email == lead.email.strip().lower()
        assert lead.channel == services.channel_for(org, lead.source, lead.utm_source, lead.utm_medium)
        domain = email_domain(lead.email)
        if lead.email and domain not in FREE_MAIL_DOMAINS:
            assert lead.account == services.match_account(org, email=lead.email)
        assert lead.completeness == quality.completeness(org=org, object_type=ObjectType.LEAD, record=lead)
        assert lead.stage_entered_at <= now and lead.captured_at >= year_ago
    span = Touchpoint.objects.for_org(org).aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    assert year_ago <= span["first"] and span["last"] <= now
    assert StageEvent.objects.for_org(org).filter(at__gt=now).count() == 0
    # What the quality pages are for: unmapped sources, incomplete records, duplicates.
    assert Lead.objects.for_org(org).filter(channel="").exclude(source="").exists()
    assert Lead.objects.for_org(org).filter(completeness__lt=0.8).count() >= 10
    flagged = DuplicateCandidate.objects.for_org(org).select_related("lead", "other")
    assert flagged.exists()
    assert all(d.reason == "email" and d.lead.email == d.other.email for d in flagged)
    assert all(d.lead.captured_at >= d.other.captured_at for d in flagged)


def test_opportunities_and_customers_are_believable(seeded):
    org, _ = seeded
    deals = Opportunity.objects.for_org(org)
    assert set(deals.values_list("type", flat=True)) >= {"new_business", "expansion", "renewal"}
    assert set(deals.values_list("status", flat=True)) == {"open", "won", "lost"}
    assert not deals.filter(status="lost", loss_reason="").exists()
    assert not deals.exclude(status="open").filter(close_date=None).exists()
    assert not deals.filter(account=None).exists()
    amounts = sorted(deals.values_list("amount", flat=True))
    assert 12_000 <= amounts[len(amounts) // 2] <= 45_000
    new_business = deals.filter(type="new_business")
    assert not new_business.filter(primary_contact=None).exists()
    # Open deals' leads sit in Opportunity, won ones in Customer, lost ones were recycled (some re-engaged).
    after_deal = ["opportunity", "customer", "recycled", "mql"]
    assert not new_business.exclude(primary_contact__stage__key__in=after_deal).exists()
    for customer in Customer.objects.for_org(org):
        assert customer.arr > 0
        assert customer.churn_date is None or customer.churn_date > customer.start_date


def test_seeding_twice_adds_nothing(seeded):
    org, _ = seeded
    accounts = Account.objects.for_org(org).count()
    assert demo.seed_records(org, scale=SCALE) is None
    # The first seed_demo adds the routing history (first touches, accepted leads moving to SAL) and
    # the few new accounts the account routing policy gives an owner.
    from apps.execution.demo import NEW_ACCOUNTS

    call_command("seed_demo", scale=SCALE)
    assert Account.objects.for_org(org).count() == accounts + len(NEW_ACCOUNTS)
    before = [model.objects.for_org(org).count() for model in (Account, Lead, StageEvent, Touchpoint)]
    call_command("seed_demo", scale=SCALE)
    after = [model.objects.for_org(org).count() for model in (Account, Lead, StageEvent, Touchpoint)]
    assert before == after
