"""The attribution workbench: the settings it depends on, and the one read its page, API and CSV share.

Every number the workbench shows is a sum of AttributionDay rows (written by
apps.measurement.attribution.compute during the rollup), read through
`attribution_table`: the page, `GET /api/v1/attribution/` and the CSV export
call it with the same arguments, so they show the same numbers.

Changing the lookback window or the half-life changes every opportunity's
credit, so saving new values queues a full rollup of the organisation once the
transaction commits.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from apps.core.errors import ServiceError
from apps.governance.changes.guard import ensure_direct_edit_allowed
from apps.measurement.attribution.compute import ALL_MODELS, LABELS, NO_TOUCH
from apps.measurement.models import AttributionDay, MeasurementSettings

GROUPS = ("channel", "source", "campaign")
MEASURES = {
    "opportunities": "Opportunities credited",
    "pipeline": "Pipeline",
    "won": "Won deals credited",
    "revenue": "Won revenue",
}
MAX_LOOKBACK_DAYS = 730
MAX_HALF_LIFE_DAYS = 365.0
ZERO = Decimal(0)


def group_label(value: str, group_by: str) -> str:
    """How a blank dimension reads on the page and in the CSV ("(no touch)" reads as itself)."""
    return value or f"(no {group_by})"


# -- settings ------------------------------------------------------------------------------------------


def measurement_settings(*, org) -> MeasurementSettings:
    """The organisation's settings row (unsaved defaults when it has none yet)."""
    return MeasurementSettings.objects.for_org(org).first() or MeasurementSettings(organization=org)


@transaction.atomic
def attribution_settings_update(*, org, lookback_days: int, half_life_days: float) -> MeasurementSettings:
    """Save the lookback window and the time-decay half-life; a change queues a full rollup on commit."""
    ensure_direct_edit_allowed(org, "metrics")
    if not 1 <= int(lookback_days) <= MAX_LOOKBACK_DAYS:
        raise ServiceError(f"Between 1 and {MAX_LOOKBACK_DAYS} days.", field="lookback_days")
    if not 0 < float(half_life_days) <= MAX_HALF_LIFE_DAYS:
        raise ServiceError(f"More than 0 and at most {MAX_HALF_LIFE_DAYS:g} days.", field="half_life_days")
    settings, _ = MeasurementSettings.objects.select_for_update().get_or_create(organization=org)
    changed = (settings.attribution_lookback_days, settings.time_decay_half_life_days) != (
        int(lookback_days),
        float(half_life_days),
    )
    settings.attribution_lookback_days = int(lookback_days)
    settings.time_decay_half_life_days = float(half_life_days)
    settings.save(update_fields=["attribution_lookback_days", "time_decay_half_life_days", "updated_at"])
    if changed:
        from apps.measurement.tasks import rollup_organization

        transaction.on_commit(lambda: rollup_organization.delay(org.pk, full=True))
    return settings


# -- the table -----------------------------------------------------------------------------------------


@dataclass
class Row:
    value: str  # the channel, source or campaign as stored ("" when blank)
    label: str
    # model -> measure -> sum
    cells: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    def get(self, model: str, measure: str) -> Decimal:
        return self.cells.get(model, {}).get(measure, ZERO)


@dataclass
class Table:
    start: datetime.date
    end: datetime.date
    group_by: str
    models: tuple[str, ...]
    rows: list[Row]
    totals: dict[str, dict[str, Decimal]]  # model -> measure -> sum

    @property
    def empty(self) -> bool:
        return not self.rows


def attribution_table(
    *,
    org,
    start: datetime.date,
    end: datetime.date,
    group_by: str = "channel",
    models: tuple[str, ...] = ALL_MODELS,
) -> Table:
    """Credit of the opportunities created from `start` to `end` (inclusive), by group and model.

    Rows are ordered by their opportunities credited, averaged over the models, largest first, with
    "(no touch)" last; one query whatever the range.
    """
    if group_by not in GROUPS:
        raise ServiceError(f"Group by one of: {', '.join(GROUPS)}.", field="group_by")
    unknown = [m for m in models if m not in ALL_MODELS]
    if unknown:
        raise ServiceError(f"“{unknown[0]}” is not a model.", field="model")
    sums = (
        AttributionDay.objects.for_org(org)
        .filter(day__gte=start, day__lte=end, model__in=models)
        .values(group_by, "model")
        .annotate(**{measure: Sum(measure) for measure in MEASURES})
        .order_by()
    )
    rows: dict[str, Row] = {}
    totals: dict[str, dict[str, Decimal]] = {m: dict.fromkeys(MEASURES, ZERO) for m in models}
    for item in sums:
        value = item[group_by]
        row = rows.setdefault(value, Row(value=value, label=group_label(value, group_by)))
        row.cells[item["model"]] = {measure: item[measure] for measure in MEASURES}
        for measure in MEASURES:
            totals[item["model"]][measure] += item[measure]

    def order(row: Row):
        mean = sum(row.get(m, "opportunities") for m in models) / len(models)
        return (row.value == NO_TOUCH, -mean, row.label.casefold())

    return Table(
        start=start,
        end=end,
        group_by=group_by,
        models=tuple(models),
        rows=sorted(rows.values(), key=order),
        totals=totals,
    )


def has_attribution(*, org) -> bool:
    """Whether any rollup has written credit yet (the page's empty state says how to get some)."""
    return AttributionDay.objects.for_org(org).exists()


def model_labels(models=ALL_MODELS) -> list[dict[str, str]]:
    return [{"key": model, "label": LABELS[model]} for model in models]


def table_by_model(table: Table, measure: str) -> dict[str, list[Decimal]]:
    """One list per model of `measure`, in the order of the table's rows (the chart's series)."""
    series = defaultdict(list)
    for model in table.models:
        for row in table.rows:
            series[LABELS[model]].append(row.get(model, measure))
    return dict(series)
