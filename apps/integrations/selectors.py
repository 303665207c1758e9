from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import DeliveryAttempt


def attempt_outcomes_by_day(*, org, endpoint, days: int = 14) -> dict:
    """Delivery attempts per day (in the organisation's time zone), split by outcome.

    Returns {"days": [date, ...], "succeeded": [n, ...], "failed": [n, ...]}
    with every day present, so a quiet day is a visible zero.
    """
    tz = ZoneInfo(org.time_zone)
    today = timezone.now().astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    rows = (
        DeliveryAttempt.objects.for_org(org)
        .filter(delivery__endpoint=endpoint, created_at__date__gte=first - timedelta(days=1))
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .filter(day__gte=first)
        .values("day", "status_code")
        .annotate(n=Count("id"))
    )
    series = {"succeeded": dict.fromkeys(range(days), 0), "failed": dict.fromkeys(range(days), 0)}
    for row in rows:
        ok = row["status_code"] is not None and 200 <= row["status_code"] < 300
        series["succeeded" if ok else "failed"][(row["day"] - first).days] += row["n"]
    day_list: list[date] = [first + timedelta(days=i) for i in range(days)]
    return {
        "days": day_list,
        "succeeded": [series["succeeded"][i] for i in range(days)],
        "failed": [series["failed"][i] for i in range(days)],
    }
