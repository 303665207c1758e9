"""Who can take work, and when: rep schedules, absences and business calendars."""

import pghistory
from django.db import models

from apps.core.models import OrgOwned


def default_hours():
    from apps.execution.calendars import DEFAULT_HOURS

    return {day: [list(interval) for interval in intervals] for day, intervals in DEFAULT_HOURS.items()}


@pghistory.track()
class BusinessCalendar(OrgOwned):
    """Working days, hours and holidays in one time zone.

    SLA clocks run on a calendar; a calendar attached to a team also makes its
    holidays days off for every member of that team.
    """

    name = models.CharField(max_length=120)
    time_zone = models.CharField(max_length=64, default="UTC")
    hours = models.JSONField(default=default_hours, help_text='{"mon": [["09:00", "17:00"]], ...}')
    # [{"date": "2026-12-25", "name": "Christmas Day"}, ...]
    holidays = models.JSONField(default=list, blank=True)
    team = models.OneToOneField(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="calendar"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="calendar_unique_name")]

    def __str__(self):
        return self.name

    @property
    def holiday_dates(self):
        from datetime import date

        return frozenset(date.fromisoformat(h["date"]) for h in self.holidays)


@pghistory.track()
class RepProfile(OrgOwned):
    """A member's routing settings: availability, working hours and caps."""

    membership = models.OneToOneField(
        "accounts.Membership", on_delete=models.CASCADE, related_name="rep_profile"
    )
    available = models.BooleanField(
        default=True, help_text="Managers switch a rep off to stop new leads reaching them."
    )
    time_zone = models.CharField(max_length=64, blank=True, help_text="Empty: the organisation's.")
    hours = models.JSONField(default=default_hours)
    daily_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most new leads a day (the rep's own day)."
    )
    open_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most leads offered or accepted and still open at once."
    )

    def __str__(self):
        return f"Routing profile of {self.membership}"


class OutOfOffice(OrgOwned):
    membership = models.ForeignKey("accounts.Membership", on_delete=models.CASCADE, related_name="absences")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["membership", "ends_at"], name="ooo_member_end_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="ooo_ends_after"
            )
        ]

    def __str__(self):
        return f"{self.membership} away {self.starts_at:%Y-%m-%d} to {self.ends_at:%Y-%m-%d}"
