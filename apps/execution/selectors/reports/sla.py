"""SLA compliance: timers met on time against breached, per clock."""

from collections.abc import Callable

from apps.execution import metrics
from apps.execution.models.sla import Clock

from .common import Column, Filters, Names, Report, Table, _label
from .queries import timers_started

CLOCKS = dict(Clock.choices)


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
