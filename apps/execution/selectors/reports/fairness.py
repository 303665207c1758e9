"""Fairness: each pool's running ledger, and offers per rep in the period."""

from apps.execution import metrics
from apps.execution.models import PoolMember

from .common import Column, Filters, Names, Report, Table, _label
from .queries import offers_made


def fairness_report(*, org, filters: Filters, names: Names) -> Report:
    rows = (
        PoolMember.objects.for_org(org)
        .values(
            "pool_id",
            "pool__name",
            "pool__strategy",
            "pool__team_id",
            "membership_id",
            "is_active",
            "weight",
            "assigned_count",
            "rejected_count",
            "credits",
            "pass_value",
        )
        .order_by("pool__name", "pool_id", "-is_active", "membership_id")
    )
    pools, entries = {}, []
    for row in rows:
        if filters.team is not None and row["pool__team_id"] != filters.team:
            continue
        pools[row["pool_id"]] = row["pool__name"]
        entries.append(
            metrics.LedgerEntry(
                pool_id=row["pool_id"],
                membership_id=row["membership_id"],
                is_active=row["is_active"],
                weight=row["weight"],
                assigned=row["assigned_count"],
                rejected=row["rejected_count"],
                credits=row["credits"],
                pass_value=row["pass_value"],
            )
        )

    made = offers_made(org=org, bounds=filters.bounds)
    offers = [o for o in made if filters.keep(o)]
    in_period = metrics.group(offers, lambda o: (o.pool_id, o.assignee_id))

    ledger_rows = []
    for pool_id, pool_entries in metrics.group(entries, lambda e: e.pool_id).items():
        weight_share = metrics.weight_shares(pool_entries)
        assigned_share = metrics.assignment_shares(pool_entries)
        for e in pool_entries:
            if filters.rep is not None and e.membership_id != filters.rep:
                continue
            ledger_rows.append(
                [
                    pools[pool_id],
                    names.person(e.membership_id),
                    "yes" if e.is_active else "no",
                    e.weight,
                    metrics.as_percent(weight_share[e.membership_id]),
                    e.assigned,
                    metrics.as_percent(assigned_share[e.membership_id]),
                    e.rejected,
                    e.credits,
                    round(e.pass_value, 2),
                    len(in_period.get((pool_id, e.membership_id), [])),
                ]
            )
    ledger = Table(
        "ledger",
        "Fairness ledger by pool",
        [
            _label("Pool"),
            _label("Person"),
            _label("Active"),
            Column("Weight"),
            Column("Weight share (%)"),
            Column("Assigned"),
            Column("Share of assignments (%)"),
            Column("Rejected"),
            Column("Credits"),
            Column("Current pass"),
            Column("Offers in period"),
        ],
        ledger_rows,
        empty="No routing pools yet. Create a pool and add people to it under Execution → Routing; its "
        "fairness ledger appears here once leads are routed.",
        note="Assigned, rejected, credits and the current pass are the pool's running ledger since each "
        "person joined it; only the last column is limited to the period.",
    )

    per_rep = metrics.group(offers, lambda o: o.assignee_id)
    rep_rows = []
    for membership_id in sorted(per_rep, key=lambda k: names.person(k).casefold()):
        own = per_rep[membership_id]
        accepted = sum(1 for o in own if o.accepted_at is not None)
        rejected = sum(1 for o in own if o.rejected)
        share = metrics.as_percent(metrics.rate(len(own), len(offers)))
        rep_rows.append([names.person(membership_id), len(own), accepted, rejected, share])
    reps = Table(
        "reps",
        "Assignments per rep in the period",
        [
            _label("Rep"),
            Column("Offers"),
            Column("Accepted"),
            Column("Rejected"),
            Column("Share of offers (%)"),
        ],
        rep_rows,
        empty="Nobody was offered a lead in this period.",
    )
    labels = [f"{row[1]} ({row[0]})" for row in ledger_rows if row[2] == "yes"]
    charts = {
        "shares": metrics.grouped_bar_chart(
            title="Share of assignments against weight share",
            x=labels,
            series={
                "Share of assignments (%)": [row[6] for row in ledger_rows if row[2] == "yes"],
                "Weight share (%)": [row[4] for row in ledger_rows if row[2] == "yes"],
            },
            y_title="%",
        )
    }
    return Report({"ledger": ledger, "reps": reps}, charts, [], facts={"offers": len(offers)})
