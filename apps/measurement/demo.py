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


# --- Pipeline history, leaks and red flags ---------------------------------------------------------

DEMO_LABEL = "demo.history"


def seed_findings(org) -> dict[str, int] | None:
    """Make the pipeline waterfall, the leak finder and the red flags find something real in the demo.

    The demo's opportunities are written in one go, so their history holds one snapshot each, taken at
    seeding time: the waterfall would see every deal appear today. This writes the history they would
    have had (`_pipeline_history`). The leak itself (Paid Social SAL → SQL falling over the last weeks)
    is in the simulated funnel (apps.records.demo.simulation). None when already done."""
    from apps.records.models import Opportunity

    if Opportunity.pgh_event_model.objects.filter(organization=org, pgh_label=DEMO_LABEL).exists():
        return None
    return {"opportunity snapshots": _pipeline_history(org)}


def _pipeline_history(org) -> int:
    """Snapshots of every demo opportunity before the one written at seeding time:

    - opened on its created date (9:00 local), at 80 % to 120 % of its final amount (by id), closing on
      its close date, or 35 days earlier for one deal in four;
    - for those, on that earlier date (when it has passed) the close date moves to the final one: a
      push, or a pull into the quarter;
    - an open deal's amount settles half-way between its creation and today;
    - a closed deal is won or lost on its close date."""
    from django.db import connection

    from apps.records.models import Opportunity

    events = Opportunity.pgh_event_model._meta.db_table
    today = timezone.localdate()
    sql = f"""
    WITH first_seen AS (
        SELECT pgh_obj_id AS id, min(pgh_created_at) AS at FROM {events}
        WHERE organization_id = %(org)s GROUP BY pgh_obj_id
    ),
    o AS (
        SELECT o.*, f.at AS seen,
               least((o.created_date + time '09:00') AT TIME ZONE %(tz)s, f.at - interval '3 seconds')
                   AS opened,
               CASE WHEN o.id %% 4 = 0
                    THEN greatest(o.created_date + 7, coalesce(o.close_date, o.created_date + 60) - 35)
                    ELSE coalesce(o.close_date, o.created_date + 60) END AS planned,
               round(o.amount * (0.8 + (o.id %% 5) * 0.1), -2) AS first_amount
        FROM records_opportunity o JOIN first_seen f ON f.id = o.id
        WHERE o.organization_id = %(org)s
    ),
    snaps AS (
        SELECT id, opened AS at, 'open' AS status, first_amount AS amount, planned AS close_date,
               '' AS loss_reason
        FROM o
        UNION ALL
        SELECT id, (planned + time '09:00') AT TIME ZONE %(tz)s, 'open', first_amount, close_date, ''
        FROM o WHERE planned < close_date AND planned < %(today)s
        UNION ALL
        SELECT id, opened + (%(today)s - created_date) / 2 * interval '1 day', 'open', amount, close_date, ''
        FROM o WHERE status = 'open' AND first_amount <> amount AND created_date < %(today)s - 2
        UNION ALL
        SELECT id, (close_date + time '09:00') AT TIME ZONE %(tz)s, status, amount, close_date, loss_reason
        FROM o WHERE status IN ('won', 'lost') AND close_date < %(today)s
    )
    INSERT INTO {events} (
        pgh_created_at, pgh_label, id, created_at, updated_at, external_id, name, amount, currency, stage,
        status, type, source, created_date, close_date, loss_reason, custom, account_id, organization_id,
        owner_id, pgh_context_id, pgh_obj_id, primary_contact_id
    )
    SELECT least(s.at, o.seen - interval '1 second'), %(label)s, o.id, o.created_at, s.at, o.external_id,
           o.name, s.amount, o.currency, o.stage, s.status, o.type, o.source, o.created_date, s.close_date,
           s.loss_reason, o.custom, o.account_id, o.organization_id, o.owner_id, NULL, o.id,
           o.primary_contact_id
    FROM snaps s JOIN o ON o.id = s.id
    """  # noqa: S608 (only the event table's name is interpolated)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": org.pk, "tz": org.time_zone, "today": today, "label": DEMO_LABEL})
        return cursor.rowcount
