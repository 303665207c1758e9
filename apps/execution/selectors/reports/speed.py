"""Speed to lead: system latency, engine time, time to accept, time to first touch, speed-to-lead."""

from collections.abc import Callable

from apps.execution import metrics

from .common import Column, Filters, Names, Report, Table, _label
from .queries import offers_made, offers_of_leads_captured

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
