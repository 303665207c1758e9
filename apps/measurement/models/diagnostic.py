"""The growth diagnostic as computed on a day: kept so every score has a trend."""

from django.db import models

from apps.core.models import OrgOwned


class DiagnosticSnapshot(OrgOwned):
    """One organisation's diagnostic on one local day (recomputed nightly, and on demand the same day).

    `scores` holds each pillar's score (people, process, technology, data, 0-10) and the strategy and
    execution scores; `report` the full result: every point with its evidence and the page that fixes
    it, the symptoms and alignment checks found, and the recommendations ranked by revenue impact.
    """

    taken_on = models.DateField()
    scores = models.JSONField(default=dict)
    quadrant = models.CharField(max_length=20, blank=True)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-taken_on"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "taken_on"], name="diagnostic_one_per_day")
        ]

    def __str__(self):
        return f"Diagnostic {self.taken_on}"
