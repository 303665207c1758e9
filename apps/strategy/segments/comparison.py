"""A segment's conversion and velocity against everyone else, in one aggregate statement.

Over the organisation's leads (merged ones left out), split into members and
non-members (for an account segment a lead is a member when its account is):
- leads: how many;
- reached <stage>: leads with a stage event into that stage at any time, as the
  catalogue's cohort conversion counts "reached" (mql, sql, opportunity, and
  customer for won);
- <stage> rate: reached ÷ leads, in percent (None without leads);
- median days to opportunity: over the leads that reached Opportunity, the median
  of (first entry into Opportunity minus the lead's first stage event), in days.
"""

from dataclasses import asdict, dataclass

from django.db import connection

from apps.strategy.models import SegmentObject

STAGES = [("mql", "MQL"), ("sql", "SQL"), ("opportunity", "Opportunity"), ("customer", "Won")]

_SQL = """
WITH per_lead AS (
    SELECT l.id, (m.id IS NOT NULL) AS member,
           min(e.at) AS first_at,
           bool_or(e.to_stage = 'mql') AS mql,
           bool_or(e.to_stage = 'sql') AS sql,
           bool_or(e.to_stage = 'opportunity') AS opportunity,
           bool_or(e.to_stage = 'customer') AS customer,
           min(e.at) FILTER (WHERE e.to_stage = 'opportunity') AS opportunity_at
    FROM records_lead l
    LEFT JOIN strategy_segmentmembership m
           ON m.organization_id = %(org)s AND m.segment_id = %(segment)s AND m.{column} = l.{key}
    LEFT JOIN records_stageevent e ON e.organization_id = %(org)s AND e.lead_id = l.id
    WHERE l.organization_id = %(org)s AND l.merged_into_id IS NULL
    GROUP BY l.id, m.id
)
SELECT member, count(*),
       count(*) FILTER (WHERE mql), count(*) FILTER (WHERE sql),
       count(*) FILTER (WHERE opportunity), count(*) FILTER (WHERE customer),
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM opportunity_at - first_at) / 86400.0
       ) FILTER (WHERE opportunity_at IS NOT NULL)
FROM per_lead GROUP BY member
"""


@dataclass(frozen=True)
class Group:
    leads: int = 0
    mql: int = 0
    sql: int = 0
    opportunity: int = 0
    customer: int = 0
    median_days_to_opportunity: float | None = None

    def rate(self, stage: str) -> float | None:
        return round(100 * getattr(self, stage) / self.leads, 1) if self.leads else None

    def as_dict(self) -> dict:
        data = asdict(self)
        data["rates"] = {stage: self.rate(stage) for stage, _ in STAGES}
        return data


@dataclass(frozen=True)
class Comparison:
    members: Group
    others: Group

    def as_dict(self) -> dict:
        return {"members": self.members.as_dict(), "others": self.others.as_dict()}

    def rows(self) -> list[dict]:
        """One row per stage for the page: label, counts and rates of both groups."""
        return [
            {
                "label": label,
                "members": getattr(self.members, stage),
                "members_rate": self.members.rate(stage),
                "others": getattr(self.others, stage),
                "others_rate": self.others.rate(stage),
            }
            for stage, label in STAGES
        ]


def compare(*, org, segment) -> Comparison:
    column, key = (
        ("lead_id", "id") if segment.object_type == SegmentObject.LEAD else ("account_id", "account_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(_SQL.format(column=column, key=key), {"org": org.pk, "segment": segment.pk})
        rows = cursor.fetchall()
    groups = {True: Group(), False: Group()}
    for member, leads, mql, sql_, opportunity, customer, median in rows:
        days = round(float(median), 1) if median is not None else None
        groups[member] = Group(leads, mql, sql_, opportunity, customer, days)
    return Comparison(members=groups[True], others=groups[False])
