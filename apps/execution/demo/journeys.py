"""Three running journeys (nurture, expansion, retention) with leads at different steps.

The journeys come from the motion templates and are published; leads enter on
each of the last fourteen days and the engine is run at every day in between,
so enrolments sit at the steps the engine put them at (waiting, e-mailed,
branched, raised to MQL, tasks and alerts raised). The e-mails those steps
wrote are history: they are stamped sent rather than delivered now.
Idempotent: an organisation with journeys is left alone.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Membership
from apps.execution.journeys import engine, entry, services
from apps.execution.journeys.templates import journey_from_template
from apps.execution.models import Journey, OutboundEmail
from apps.records.models import Customer, Lead

DAYS = 14
PER_DAY = {"nurture": 4, "expansion": 1, "retention": 1}


def seed_journeys(org, *, now=None) -> dict | None:
    if Journey.objects.for_org(org).exists():
        return None
    now = now or timezone.now()
    owner = (
        Membership.objects.for_org(org).filter(user__email="marketer@northwind.example").first()
        or Membership.objects.for_org(org).order_by("pk").first()
    )
    with transaction.atomic():
        journeys = {}
        for motion in PER_DAY:
            journey = journey_from_template(org=org, motion=motion, owner=owner)
            services.journey_publish(org=org, journey=journey, actor=owner)
            journeys[motion] = journey
        pools = _lead_pools(org)
        for day in range(DAYS, -1, -1):
            moment = now - timedelta(days=day)
            while engine.sweep(now=moment, org=org):
                pass
            # Enrolled after the day's sweep: today's entrants wait at their first step for the live sweeper.
            for motion, journey in journeys.items():
                for lead in [pools[motion].pop() for _ in range(PER_DAY[motion]) if pools[motion]]:
                    entry.try_enroll(journey=journey, lead=lead, source="manual", now=moment)
        OutboundEmail.objects.for_org(org).filter(sent_at__isnull=True).update(sent_at=now, claimed_at=now)
    return {m: j.enrollments.count() for m, j in journeys.items()}


def _lead_pools(org) -> dict[str, list]:
    """Prospects (no customer account) for nurture; contacts of customer accounts for the others."""
    customers = set(
        Customer.objects.for_org(org).filter(churn_date__isnull=True).values_list("account_id", flat=True)
    )
    leads = Lead.objects.for_org(org).filter(merged_into__isnull=True).exclude(email="").order_by("pk")
    prospects = list(leads.exclude(account_id__in=customers)[: PER_DAY["nurture"] * (DAYS + 1)])
    contacts = list(leads.filter(account_id__in=customers)[: 2 * (DAYS + 1)])
    return {"nurture": prospects[::-1], "expansion": contacts[0::2][::-1], "retention": contacts[1::2][::-1]}
