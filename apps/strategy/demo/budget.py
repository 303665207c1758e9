"""Demo channel budget: the last and the current fiscal quarter, set near (never at) what the ledger shows.

The measurement demo spends the same amount every month per channel, so a
quarter's actual is three months of it (less, for months still to come). Each
channel's plan is that quarter's worth moved by its own factor, so the page
shows variances both ways; the ICP segment, when it exists, gets a line of its
own on Paid Search.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from apps.measurement.demo import MONTHLY

from ..fiscal import fiscal_quarter_of, shift_quarter
from ..models import ChannelBudget, Segment
from ..services import budget as services

# channel -> (plan ÷ three months of spend, the note on the line)
FACTORS = {
    "Paid Search": (Decimal("0.94"), "Brand and competitor terms; non-brand capped"),
    "Paid Social": (Decimal("1.08"), "LinkedIn lead-gen forms for the mid-market push"),
    "Events": (Decimal("0.85"), "Two trade shows and a customer dinner"),
    "Email": (Decimal("1.12"), "Newsletter sponsorships"),
}
ICP_SPEND = Decimal("6000")


def _hundreds(amount: Decimal) -> Decimal:
    return (amount / 100).quantize(Decimal("1"), ROUND_HALF_UP) * 100


def seed_channel_budget(org) -> int | None:
    """Lines for the last and the current fiscal quarter; None when the organisation has a budget already."""
    if ChannelBudget.objects.for_org(org).exists():
        return None
    this_year, this_quarter = fiscal_quarter_of(org.fiscal_year_start_month, timezone.localdate())
    quarters = [shift_quarter(this_year, this_quarter, -1), (this_year, this_quarter)]
    made = 0
    for year, quarter in quarters:
        for channel, (factor, note) in FACTORS.items():
            services.budget_create(
                org=org,
                fiscal_year=year,
                quarter=quarter,
                channel=channel,
                planned_spend=_hundreds(MONTHLY[channel] * 3 * factor),
                note=note,
            )
            made += 1
    icp = Segment.objects.for_org(org).filter(key="icp").first()
    if icp is not None:
        services.budget_create(
            org=org,
            fiscal_year=this_year,
            quarter=this_quarter,
            channel="Paid Search",
            segment=icp,
            planned_spend=ICP_SPEND,
            note="Account-based ads aimed at the ICP",
        )
        made += 1
    return made
