"""Rejections: reject reasons overall and by source and campaign."""

from collections.abc import Callable

from apps.execution import metrics

from .common import Column, Filters, Names, Report, Table, _label
from .queries import offers_made


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
