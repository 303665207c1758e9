"""Reads behind the speed, SLA, rejection and fairness reports.

Each report is a handful of queries over one period (a lead counts in the
period it was captured, an offer in the period it was made, a timer in the
period it started), turned into plain rows and handed to the pure functions
in `apps.execution.metrics`. The result is a set of `Table`s: the page renders
them and `?format=csv&table=<key>` streams the same rows, so the page and the
export cannot disagree.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from apps.accounts.models import Membership, Team
from apps.execution import metrics
from apps.execution.metrics import Offer, Timer
from apps.execution.models import Assignment, PoolMember, SlaTimer
from apps.execution.models.sla import Clock

CLOCKS = dict(Clock.choices)


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # included
    tz: ZoneInfo
    team: int | None = None
    rep: int | None = None
    source: str | None = None

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return metrics.period_bounds(self.start, self.end, self.tz)

    def keep(self, row) -> bool:
        return metrics.keep(row, team=self.team, rep=self.rep, source=self.source)


@dataclass(frozen=True)
class Names:
    """Who and which team an id is, including former members (their history still counts)."""

    people: dict[int, str]
    teams: dict[int, str]

    def person(self, membership_id: int) -> str:
        return self.people.get(membership_id, f"Member #{membership_id}")

    def team(self, team_id: int | None) -> str:
        return metrics.NO_TEAM if team_id is None else self.teams.get(team_id, f"Team #{team_id}")


def names_for(*, org) -> Names:
    members = Membership.objects.for_org(org).select_related("user")
    return Names(
        people={m.pk: m.user.display_name for m in members},
        teams=dict(Team.objects.for_org(org).values_list("pk", "name")),
    )


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = True


@dataclass
class Table:
    """Rows of finished cells (text, int, a rounded float or None for "not measured")."""

    key: str
    title: str
    columns: list[Column]
    rows: list[list]
    empty: str  # what to do about it when there are no rows
    note: str = ""

    @property
    def cells(self) -> list[list[tuple]]:
        """Each row as (value, numeric) pairs, for templates that right-align numbers."""
        return [
            [(value, column.numeric) for value, column in zip(row, self.columns, strict=True)]
            for row in self.rows
        ]


@dataclass
class Report:
    tables: dict[str, Table]
    charts: dict[str, str | None] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # for the source filter: every source in the period
    facts: dict = field(default_factory=dict)  # headline numbers for the page


def _label(text: str) -> Column:
    return Column(text, numeric=False)


# --- Queries -------------------------------------------------------------------------

_OFFER_FIELDS = (
    "id",
    "lead_id",
    "assignee_id",
    "pool_id",
    "pool__team_id",
    "lead__channel",
    "lead__source",
    "lead__utm_campaign",
    "status",
    "lead__captured_at",
    "offered_at",
    "accepted_at",
    "first_touch_at",
    "reject_reason__label",
    "reject_reason__order",
    "decision__timings__decide_ms",
)


def _offers(queryset) -> list[Offer]:
    return [
        Offer(
            id=row["id"],
            lead_id=row["lead_id"],
            assignee_id=row["assignee_id"],
            pool_id=row["pool_id"],
            team_id=row["pool__team_id"],
            source=metrics.source_of(row["lead__channel"], row["lead__source"]),
            campaign=row["lead__utm_campaign"] or metrics.NO_CAMPAIGN,
            status=row["status"],
            captured_at=row["lead__captured_at"],
            offered_at=row["offered_at"],
            accepted_at=row["accepted_at"],
            first_touch_at=row["first_touch_at"],
            reject_reason=row["reject_reason__label"] or "",
            reject_reason_order=row["reject_reason__order"] or 0,
            decide_ms=_number(row["decision__timings__decide_ms"]),
        )
        for row in queryset.values(*_OFFER_FIELDS).iterator(chunk_size=5000)
    ]


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def offers_made(*, org, bounds) -> list[Offer]:
    """Every offer made in the period."""
    start, end = bounds
    return _offers(Assignment.objects.for_org(org).filter(offered_at__gte=start, offered_at__lt=end))


def offers_of_leads_captured(*, org, bounds) -> list[Offer]:
    """Every offer, whenever made, of the leads captured in the period."""
    start, end = bounds
    return _offers(
        Assignment.objects.for_org(org).filter(
            lead__organization=org, lead__captured_at__gte=start, lead__captured_at__lt=end
        )
    )


def timers_started(*, org, bounds) -> tuple[list[Timer], dict[int, str]]:
    """The SLA timers started in the period, and the names of their policies."""
    start, end = bounds
    rows = (
        SlaTimer.objects.for_org(org)
        .filter(started_at__gte=start, started_at__lt=end)
        .values(
            "id",
            "policy_id",
            "policy__name",
            "clock",
            "assignee_id",
            "assignment__pool__team_id",
            "lead__channel",
            "lead__source",
            "status",
            "due_at",
            "met_at",
            "breached_at",
        )
    )
    timers, policies = [], {}
    for row in rows.iterator(chunk_size=5000):
        policies[row["policy_id"]] = row["policy__name"]
        timers.append(
            Timer(
                id=row["id"],
                policy_id=row["policy_id"],
                clock=row["clock"],
                assignee_id=row["assignee_id"],
                team_id=row["assignment__pool__team_id"],
                source=metrics.source_of(row["lead__channel"], row["lead__source"]),
                status=row["status"],
                due_at=row["due_at"],
                met_at=row["met_at"],
                breached_at=row["breached_at"],
            )
        )
    return timers, policies


# --- Speed to lead -------------------------------------------------------------------

_PER_OFFER = "offers made in the period"
_PER_LEAD = "leads captured in the period"


def _minutes(s: metrics.Spread) -> list:
    return [metrics.as_minutes(s.p50), metrics.as_minutes(s.p90)]


def _speed_breakdown(key: str, title: str, offers, touched, group_key: Callable, name: Callable) -> Table:
    offer_groups = metrics.group(offers, group_key)
    lead_groups = metrics.group(touched, lambda s: group_key(s.first_touch))
    rows = []
    for k in sorted(set(offer_groups) | set(lead_groups), key=lambda k: name(k).casefold()):
        own = offer_groups.get(k, [])
        accept = metrics.spread(o.time_to_accept for o in own)
        touch = metrics.spread(o.time_to_first_touch for o in own)
        stl = metrics.spread(s.speed_to_lead for s in lead_groups.get(k, []))
        rows.append(
            [
                name(k),
                len(own),
                accept.count,
                *_minutes(accept),
                touch.count,
                *_minutes(touch),
                stl.count,
                *_minutes(stl),
            ]
        )
    columns = [
        _label(title),
        Column("Offers"),
        Column("Accepted"),
        Column("Time to accept p50 (min)"),
        Column("Time to accept p90 (min)"),
        Column("Touched"),
        Column("Time to first touch p50 (min)"),
        Column("Time to first touch p90 (min)"),
        Column("Leads first touched"),
        Column("Speed-to-lead p50 (min)"),
        Column("Speed-to-lead p90 (min)"),
    ]
    return Table(
        key,
        f"By {title.lower()}",
        columns,
        rows,
        empty="No offers match these filters; widen the dates or clear a filter.",
        note="Offers are counted in the period they were made; speed-to-lead in the period the lead was "
        "captured, under whoever touched it first.",
    )


def speed_report(*, org, filters: Filters, names: Names) -> Report:
    bounds = filters.bounds
    made = offers_made(org=org, bounds=bounds)
    captured = offers_of_leads_captured(org=org, bounds=bounds)
    sources = sorted({o.source for o in made} | {o.source for o in captured}, key=str.casefold)

    offers = [o for o in made if filters.keep(o)]
    speeds = metrics.lead_speeds(captured)
    # A lead's latency belongs to whoever it was first offered to; its speed-to-lead to
    # whoever touched it first.
    offered_leads = [s for s in speeds if s.first_offer and filters.keep(s.first_offer)]
    touched_leads = [s for s in speeds if s.first_touch and filters.keep(s.first_touch)]

    latency = metrics.spread(s.system_latency for s in offered_leads)
    engine = metrics.spread(o.decide_ms for o in offers)
    accept = metrics.spread(o.time_to_accept for o in offers)
    touch = metrics.spread(o.time_to_first_touch for o in offers)
    stl = metrics.spread(s.speed_to_lead for s in touched_leads)

    summary = Table(
        "summary",
        "Summary",
        [_label("Measure"), _label("Counted over"), Column("Measured"), Column("p50"), Column("p90")],
        [
            [
                "System latency: capture → first offer (seconds)",
                _PER_LEAD,
                latency.count,
                metrics.as_seconds(latency.p50),
                metrics.as_seconds(latency.p90),
            ],
            [
                "Routing engine time per decision (milliseconds)",
                _PER_OFFER,
                engine.count,
                metrics.round1(engine.p50),
                metrics.round1(engine.p90),
            ],
            ["Time to accept: offer → accept (minutes)", _PER_OFFER, accept.count, *_minutes(accept)],
            ["Time to first touch: offer → first touch (minutes)", _PER_OFFER, touch.count, *_minutes(touch)],
            ["Speed-to-lead: capture → first human touch (minutes)", _PER_LEAD, stl.count, *_minutes(stl)],
        ],
        empty="",
        note="p50 is the median; p90 is the time 90% of them beat. Percentiles interpolate linearly "
        "between the two nearest values.",
    )

    dates = metrics.days(filters.start, filters.end)
    tz = filters.tz
    span = {"tz": tz, "start": filters.start, "end": filters.end}
    accept_daily = metrics.daily_medians(
        offers, when=lambda o: o.offered_at, value=lambda o: o.time_to_accept, **span
    )
    touch_daily = metrics.daily_medians(
        offers, when=lambda o: o.offered_at, value=lambda o: o.time_to_first_touch, **span
    )
    stl_daily = metrics.daily_medians(
        touched_leads, when=lambda s: s.captured_at, value=lambda s: s.speed_to_lead, **span
    )
    offers_per_day = metrics.group(offers, lambda o: metrics.local_date(o.offered_at, tz))
    leads_per_day = metrics.group(touched_leads, lambda s: metrics.local_date(s.captured_at, tz))
    daily_rows = [
        [
            day.isoformat(),
            len(offers_per_day.get(day, [])),
            metrics.as_minutes(a),
            metrics.as_minutes(t),
            len(leads_per_day.get(day, [])),
            metrics.as_minutes(s),
        ]
        for day, a, t, s in zip(dates, accept_daily, touch_daily, stl_daily, strict=True)
        if day in offers_per_day or day in leads_per_day
    ]
    daily = Table(
        "daily",
        "Day by day",
        [
            _label("Day"),
            Column("Offers"),
            Column("Median time to accept (min)"),
            Column("Median time to first touch (min)"),
            Column("Leads first touched"),
            Column("Median speed-to-lead (min)"),
        ],
        daily_rows,
        empty="No offers or touched leads in this period.",
        note=f"Days in {tz.key}; days with nothing measured are left out.",
    )

    tables = {
        "summary": summary,
        "daily": daily,
        "rep": _speed_breakdown("rep", "Rep", offers, touched_leads, lambda o: o.assignee_id, names.person),
        "team": _speed_breakdown("team", "Team", offers, touched_leads, lambda o: o.team_id, names.team),
        "source": _speed_breakdown("source", "Source", offers, touched_leads, lambda o: o.source, str),
    }
    minutes = metrics.as_minutes
    charts = {
        "daily": metrics.daily_medians_chart(
            dates=dates,
            series={
                "Time to accept": [minutes(v) for v in accept_daily],
                "Time to first touch": [minutes(v) for v in touch_daily],
                "Speed-to-lead": [minutes(v) for v in stl_daily],
            },
        ),
        "histogram": metrics.response_histogram(
            series={
                "Time to accept": [minutes(o.time_to_accept) for o in offers if o.accepted_at],
                "Time to first touch": [minutes(o.time_to_first_touch) for o in offers if o.first_touch_at],
            }
        ),
    }
    return Report(
        tables,
        charts,
        sources,
        facts={
            "offers": len(offers),
            "leads": len(offered_leads),
            "latency": {"count": latency.count, "p50": summary.rows[0][3], "p90": summary.rows[0][4]},
            "stl": {"count": stl.count, "p50": summary.rows[4][3], "p90": summary.rows[4][4]},
        },
    )


# --- SLA compliance ------------------------------------------------------------------


def _compliance_table(key: str, title: str, timers, group_key: Callable, name: Callable) -> Table:
    by = metrics.compliance_by(timers, group_key)
    rows = [
        [name(k), CLOCKS.get(clock, clock), c.met, c.breached, metrics.as_percent(c.rate)]
        for (k, clock), c in sorted(by.items(), key=lambda item: (name(item[0][0]).casefold(), item[0][1]))
    ]
    return Table(
        key,
        f"By {title.lower()}",
        [_label(title), _label("Clock"), Column("Met on time"), Column("Breached"), Column("Compliance (%)")],
        rows,
        empty="No SLA timers match these filters; widen the dates or clear a filter.",
    )


def sla_report(*, org, filters: Filters, names: Names) -> Report:
    all_timers, policies = timers_started(org=org, bounds=filters.bounds)
    sources = sorted({t.source for t in all_timers}, key=str.casefold)
    timers = [t for t in all_timers if filters.keep(t)]

    per_clock = metrics.group(timers, lambda t: t.clock)
    clock_rows = []
    for clock, label in CLOCKS.items():
        c = metrics.compliance(per_clock.get(clock, []))
        if c.outcomes or c.excluded:
            clock_rows.append([label, c.met, c.breached, c.excluded, metrics.as_percent(c.rate)])
    clocks = Table(
        "clocks",
        "Compliance by clock",
        [
            _label("Clock"),
            Column("Met on time"),
            Column("Breached"),
            Column("Not counted"),
            Column("Compliance (%)"),
        ],
        clock_rows,
        empty="",
        note="Not counted: cancelled timers (the offer was rejected or reassigned first) and timers still "
        "running before their due time.",
    )
    tables = {
        "clocks": clocks,
        "rep": _compliance_table("rep", "Rep", timers, lambda t: t.assignee_id, names.person),
        "team": _compliance_table("team", "Team", timers, lambda t: t.team_id, names.team),
        "source": _compliance_table("source", "Source", timers, lambda t: t.source, str),
        "policy": _compliance_table(
            "policy", "Policy", timers, lambda t: t.policy_id, lambda pk: policies.get(pk, f"Policy #{pk}")
        ),
    }

    by_rep = metrics.compliance_by(timers, lambda t: t.assignee_id)
    reps = sorted({k for k, _ in by_rep}, key=lambda k: names.person(k).casefold())
    by_source = metrics.compliance_by(timers, lambda t: t.source)
    breach_sources = sorted({k for k, _ in by_source}, key=str.casefold)
    empty = metrics.Compliance(0, 0, 0)
    charts = {
        "compliance": metrics.grouped_bar_chart(
            title="SLA compliance by rep",
            x=[names.person(k) for k in reps],
            series={
                label: [metrics.as_percent(by_rep.get((k, clock), empty).rate) for k in reps]
                for clock, label in CLOCKS.items()
                if clock in per_clock
            },
            y_title="% met on time",
        ),
        "breaches": metrics.grouped_bar_chart(
            title="Breaches by source",
            x=breach_sources,
            series={
                label: [by_source.get((k, clock), empty).breached for k in breach_sources]
                for clock, label in CLOCKS.items()
                if clock in per_clock
            },
            y_title="Breaches",
            stacked=True,
        ),
    }
    return Report(tables, charts, sources, facts={"timers": len(timers)})


# --- Rejections ----------------------------------------------------------------------


def _rejection_table(key: str, title: str, offers, group_key: Callable, reasons: list[str]) -> Table:
    rows = []
    for k, own in sorted(metrics.group(offers, group_key).items(), key=lambda item: item[0].casefold()):
        r = metrics.rejections(own)
        rows.append(
            [k, r.offered, r.rejected, metrics.as_percent(r.rate), *(r.reasons.get(x, 0) for x in reasons)]
        )
    return Table(
        key,
        f"Reject reasons by {title.lower()}",
        [_label(title), Column("Offered"), Column("Rejected"), Column("Reject rate (%)")]
        + [Column(reason) for reason in reasons],
        rows,
        empty="No offers match these filters; widen the dates or clear a filter.",
    )


def rejections_report(*, org, filters: Filters, names: Names) -> Report:
    made = offers_made(org=org, bounds=filters.bounds)
    sources = sorted({o.source for o in made}, key=str.casefold)
    offers = [o for o in made if filters.keep(o)]
    reasons = metrics.reason_labels(offers)
    total = metrics.rejections(offers)
    reason_rows = [
        [
            reason,
            total.reasons[reason],
            metrics.as_percent(metrics.rate(total.reasons[reason], total.rejected)),
        ]
        for reason in reasons
    ]
    tables = {
        "reasons": Table(
            "reasons",
            "Reasons",
            [_label("Reason"), Column("Rejections"), Column("Share of rejections (%)")],
            reason_rows,
            empty="No offer was rejected in this period.",
        ),
        "source": _rejection_table("source", "Source", offers, lambda o: o.source, reasons),
        "campaign": _rejection_table("campaign", "Campaign", offers, lambda o: o.campaign, reasons),
    }
    by_source = metrics.group(offers, lambda o: o.source)
    x = sorted((k for k, own in by_source.items() if any(o.rejected for o in own)), key=str.casefold)
    per_source = {k: metrics.rejections(by_source[k]) for k in x}
    charts = {
        "reasons": metrics.grouped_bar_chart(
            title="Rejections by reason and source",
            x=x,
            series={reason: [per_source[k].reasons.get(reason, 0) for k in x] for reason in reasons},
            y_title="Rejections",
            stacked=True,
        )
    }
    facts = {"offered": total.offered, "rejected": total.rejected, "rate": metrics.as_percent(total.rate)}
    return Report(tables, charts, sources, facts=facts)


# --- Fairness ------------------------------------------------------------------------


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


REPORTS = {
    "speed": speed_report,
    "sla": sla_report,
    "rejections": rejections_report,
    "fairness": fairness_report,
}
