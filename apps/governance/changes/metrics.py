"""Metric definitions: the organisation's measurement settings the catalogue's formulas read.

The catalogue's definitions are code and the same for everyone; what an organisation decides is in
`MeasurementSettings`: the attribution lookback, the time-decay half-life and the gross margin used
for LTV and CAC payback. The lookback and half-life go through `attribution_settings_update` (which
queues the rollup they need); the gross margin has no edit page of its own and is saved here, checked
the same way.
"""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from apps.core.errors import ServiceError
from apps.measurement.models import MeasurementSettings
from apps.measurement.services import attribution

from . import base

SUBJECT = "metrics"
KEYS = {
    "attribution_lookback_days": int,
    "time_decay_half_life_days": (int, float),
    "gross_margin": (int, float),
}


def target_label(org, target=None) -> str:
    return "Measurement settings"


def export(org, target=None) -> dict:
    row = attribution.measurement_settings(org=org)
    return {
        "attribution_lookback_days": row.attribution_lookback_days,
        "time_decay_half_life_days": float(row.time_decay_half_life_days),
        "gross_margin": float(row.gross_margin),
    }


def validate(org, target, proposed) -> dict[str, list[str]]:
    errors = base.require_object(proposed, KEYS)
    return errors or base.dry_run(apply, org, target, proposed)


def _margin(value) -> Decimal:
    try:
        margin = Decimal(str(value)).quantize(Decimal("0.001"))
    except InvalidOperation:
        raise ServiceError(
            "Give the margin as a share between 0 and 1 (0.8 = 80 %).", field="gross_margin"
        ) from None
    if not 0 < margin <= 1:
        raise ServiceError(
            "Give the margin as a share above 0 and at most 1 (0.8 = 80 %).", field="gross_margin"
        )
    return margin


@transaction.atomic
def apply(org, target, proposed, by=None, note: str = "") -> None:
    try:
        attribution.attribution_settings_update(
            org=org,
            lookback_days=proposed["attribution_lookback_days"],
            half_life_days=proposed["time_decay_half_life_days"],
        )
    except ServiceError as error:
        # The service names its form's inputs; the document names the settings' fields.
        field = {"lookback_days": "attribution_lookback_days", "half_life_days": "time_decay_half_life_days"}
        raise ServiceError(
            error.message, code=error.code, field=field.get(error.field, error.field)
        ) from None
    margin = _margin(proposed["gross_margin"])
    row = MeasurementSettings.objects.select_for_update().get(organization=org)
    if row.gross_margin != margin:
        row.gross_margin = margin
        row.save(update_fields=["gross_margin", "updated_at"])


diff = base.diff
