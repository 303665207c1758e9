"""Demo measurement data: a year of marketing spend by channel, and the facts rolled up."""

import datetime
from decimal import Decimal

from django.utils import timezone

from .models import SpendEntry, SpendType
from .services import rollup

# Monthly spend per channel (media), plus the tools and people every month carries.
MONTHLY = {
    "Paid Search": Decimal("18000"),
    "Paid Social": Decimal("12000"),
    "Events": Decimal("9000"),
    "Email": Decimal("1500"),
}


def seed_measurement(org) -> dict[str, int] | None:
    """Twelve months of spend ending this month, then a full rollup. None when spend already exists."""
    if SpendEntry.objects.for_org(org).exists():
        return None
    today = timezone.localdate()
    month = today.replace(day=1)
    entries = []
    for _ in range(12):
        end = (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)
        for channel, amount in MONTHLY.items():
            kind = SpendType.EVENTS if channel == "Events" else SpendType.MEDIA
            entries.append(
                SpendEntry(
                    organization=org,
                    channel=channel,
                    type=kind,
                    amount=amount,
                    period_start=month,
                    period_end=end,
                    external_id=f"demo-{channel}-{month:%Y-%m}",
                )
            )
        entries.append(
            SpendEntry(
                organization=org,
                channel="Tools",
                type=SpendType.TOOLS,
                amount=Decimal("4000"),
                period_start=month,
                period_end=end,
                note="Marketing automation and analytics licences",
            )
        )
        month = (month - datetime.timedelta(days=1)).replace(day=1)
    SpendEntry.objects.bulk_create(entries)
    result = rollup.rollup(org, full=True)
    return {"spend entries": len(entries), **{f"{name} facts": n for name, n in result.rows.items()}}
