"""The incrementality register: holdout tests, their measured lift, and the attributed numbers beside it.

Writes are atomic and keyword-only and refuse bad input with a `ServiceError`
naming the field; the pghistory triggers on HoldoutTest keep the audit trail.
The lift itself is computed on read from the group counts
(`apps.measurement.attribution.incrementality.lift`), so correcting a count
never leaves a stale result behind.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum

from apps.core.errors import ServiceError
from apps.measurement.attribution.engine import MODEL_LABELS
from apps.measurement.attribution.incrementality import Lift, lift
from apps.measurement.models import AttributionDay, HoldoutTest
from apps.records.normalize import normalize_text

from .spend import channel_vocabulary, clean_date

FIELDS = (
    "name", "channel", "campaign", "hypothesis", "period_start", "period_end", "treatment_size",
    "treatment_conversions", "control_size", "control_conversions", "conversion_event", "notes",
)  # fmt: skip
REQUIRED = (
    "name", "period_start", "period_end", "treatment_size", "treatment_conversions", "control_size",
    "control_conversions",
)  # fmt: skip
DEFAULT_CONVERSION_EVENT = "opportunity created"
MAX_GROUP = 2_147_483_647  # the column is a PostgreSQL integer


def _text(value, *, field: str, max_length: int) -> str:
    text = normalize_text(value)
    if len(text) > max_length:
        raise ServiceError(f"At most {max_length} characters ({len(text)} given).", field=field)
    return text


def _count(value, *, field: str) -> int:
    if isinstance(value, bool):
        raise ServiceError("Give a whole number.", field=field)
    if isinstance(value, str):
        value = value.strip()
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServiceError("Give a whole number.", field=field) from None
    if isinstance(value, float) and value != number:
        raise ServiceError("Give a whole number.", field=field)
    if number < 0:
        raise ServiceError("A count cannot be negative.", field=field)
    if number > MAX_GROUP:
        raise ServiceError(f"At most {MAX_GROUP:,}.", field=field)
    return number


def holdout_values(test: HoldoutTest) -> dict:
    """A test's fields under the names the services and the form use."""
    return {
        "name": test.name,
        "channel": test.channel,
        "campaign": test.campaign_ref,
        "hypothesis": test.hypothesis,
        "period_start": test.period_start,
        "period_end": test.period_end,
        "treatment_size": test.treatment_size,
        "treatment_conversions": test.treatment_conversions,
        "control_size": test.control_size,
        "control_conversions": test.control_conversions,
        "conversion_event": test.conversion_event,
        "notes": test.notes,
    }


def _clean(org, fields: dict, *, base: dict | None = None) -> dict:
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    if base is None:
        for name in REQUIRED:
            if fields.get(name) in (None, ""):
                raise ServiceError("This field is required.", field=name)
    cleaned = dict(base or {"channel": "", "campaign": "", "hypothesis": "", "notes": ""})
    cleaned.setdefault("conversion_event", DEFAULT_CONVERSION_EVENT)
    for name, value in fields.items():
        if name == "name":
            cleaned[name] = _text(value, field=name, max_length=200)
            if not cleaned[name]:
                raise ServiceError("Give the test a name.", field=name)
        elif name == "channel":
            cleaned[name] = _text(value, field=name, max_length=60)
            if cleaned[name]:
                cleaned[name] = channel_vocabulary(org=org).channel(cleaned[name])
        elif name == "campaign":
            cleaned[name] = _text(value, field=name, max_length=255)
        elif name in ("hypothesis", "notes"):
            cleaned[name] = str(value or "").strip()
            if len(cleaned[name]) > 5000:
                raise ServiceError("At most 5,000 characters.", field=name)
        elif name in ("period_start", "period_end"):
            cleaned[name] = clean_date(value, field=name)
        elif name == "conversion_event":
            cleaned[name] = _text(value, field=name, max_length=120) or DEFAULT_CONVERSION_EVENT
        else:
            cleaned[name] = _count(value, field=name)
    if cleaned["period_end"] < cleaned["period_start"]:
        raise ServiceError(
            f"The test ends ({cleaned['period_end']}) before it starts ({cleaned['period_start']}).",
            field="period_end",
        )
    for group in ("treatment", "control"):
        size, conversions = cleaned[f"{group}_size"], cleaned[f"{group}_conversions"]
        if size == 0:
            raise ServiceError(
                f"The {group} group needs at least one member to have a conversion rate.",
                field=f"{group}_size",
            )
        if conversions > size:
            raise ServiceError(
                f"{conversions:,} conversions among only {size:,} members of the {group} group.",
                field=f"{group}_conversions",
            )
    return cleaned


def _model_values(cleaned: dict) -> dict:
    values = {k: v for k, v in cleaned.items() if k != "campaign"}
    values["campaign_ref"] = cleaned["campaign"]
    return values


@transaction.atomic
def holdout_create(*, org, **fields) -> HoldoutTest:
    cleaned = _clean(org, fields)
    return HoldoutTest.objects.create(organization=org, **_model_values(cleaned))


@transaction.atomic
def holdout_update(*, org, test: HoldoutTest, **fields) -> HoldoutTest:
    """Change some fields; the result is checked whole (period order, conversions within groups)."""
    if test.organization_id != org.pk:
        raise ServiceError("No such holdout test in this organisation.", code="not_found")
    locked = HoldoutTest.objects.select_for_update().get(pk=test.pk, organization=org)
    cleaned = _clean(org, fields, base=holdout_values(locked))
    for name, value in _model_values(cleaned).items():
        setattr(test, name, value)
    test.save()
    return test


@transaction.atomic
def holdout_delete(*, org, test: HoldoutTest) -> None:
    if test.organization_id != org.pk:
        raise ServiceError("No such holdout test in this organisation.", code="not_found")
    test.delete()


# --- Reads ---------------------------------------------------------------------------------------


def holdout_lift(test: HoldoutTest, *, confidence: float = 0.95) -> Lift:
    return lift(
        test.treatment_size,
        test.treatment_conversions,
        test.control_size,
        test.control_conversions,
        confidence=confidence,
    )


@dataclass
class Attributed:
    model: str
    label: str
    opportunities: Decimal


@dataclass
class HoldoutRow:
    test: HoldoutTest
    lift: Lift
    # The conversions the program caused in the treatment group: the rate difference times its size.
    incremental: float
    incremental_ci: tuple[float, float]
    attributed: list[Attributed]


def holdout_rows(*, org, tests) -> list[HoldoutRow]:
    """Each test with its lift, and what attribution credits its channel with over the same period.

    The attributed numbers are the opportunities created in the test's period
    and credited to its channel (campaign too, when the test names one), per
    attribution model, from the daily attribution facts: one query for all tests.
    """
    tests = list(tests)
    credited = _attributed(org=org, tests=[t for t in tests if t.channel])
    rows = []
    for test in tests:
        result = holdout_lift(test)
        rows.append(
            HoldoutRow(
                test=test,
                lift=result,
                incremental=result.difference * test.treatment_size,
                incremental_ci=(
                    result.difference_ci[0] * test.treatment_size,
                    result.difference_ci[1] * test.treatment_size,
                ),
                attributed=credited.get(test.pk, []),
            )
        )
    return rows


def _attributed(*, org, tests: list[HoldoutTest]) -> dict[int, list[Attributed]]:
    if not tests:
        return {}
    # One conditional sum per test, grouped by model: a single query whatever the number of tests.
    sums = {}
    for test in tests:
        match = Q(channel=test.channel, day__gte=test.period_start, day__lte=test.period_end)
        if test.campaign_ref:
            match &= Q(campaign__iexact=test.campaign_ref)
        sums[f"test_{test.pk}"] = Sum("opportunities", filter=match)
    facts = (
        AttributionDay.objects.for_org(org)
        .filter(
            day__gte=min(t.period_start for t in tests),
            day__lte=max(t.period_end for t in tests),
            channel__in={t.channel for t in tests},
        )
        .values("model")
        .annotate(**sums)
    )
    order = list(MODEL_LABELS)
    credited: dict[int, list[Attributed]] = defaultdict(list)
    for row in sorted(facts, key=lambda r: order.index(r["model"]) if r["model"] in order else len(order)):
        label = MODEL_LABELS.get(row["model"], row["model"].replace("_", " ").capitalize())
        for test in tests:
            amount = row[f"test_{test.pk}"]
            if amount is not None:
                credited[test.pk].append(Attributed(model=row["model"], label=label, opportunities=amount))
    return dict(credited)
