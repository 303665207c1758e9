"""Daily facts the dashboards and the metrics API read instead of raw events.

Every fact row is one organisation's local day (its time zone) and one
combination of dimensions; the measures are sums, so any period and any
coarser grouping is a SUM over rows. Durations also keep a sketch (see
apps.measurement.sketch) so medians and p90s of a quarter come from merged
day sketches, not from rescanning events.

Dimensions are the lead's as they are now (its channel, campaign and owner):
re-mapping a source or re-routing a lead marks the days of its events dirty.
`owner` holds a membership id without a foreign-key constraint, so facts never
block deleting a member and never cascade.
"""

from django.db import models

from apps.core.models import OrgOwned


def _owner():
    return models.ForeignKey(
        "accounts.Membership",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )


def _deal():
    """An opportunity id, kept without a constraint like `owner` (the deal may be deleted since)."""
    return models.ForeignKey(
        "records.Opportunity",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )


class FunnelDay(OrgOwned):
    """Entries into and exits out of a lifecycle stage on a day."""

    day = models.DateField()
    stage = models.CharField(max_length=40)
    channel = models.CharField(max_length=60, blank=True)
    campaign = models.CharField(max_length=255, blank=True)
    owner = _owner()
    created = models.PositiveIntegerField(default=0, help_text="Leads created into this stage.")
    created_completeness = models.FloatField(default=0, help_text="Completeness summed over those leads.")
    entries = models.PositiveIntegerField(default=0)
    first_entries = models.PositiveIntegerField(default=0, help_text="Leads entering it for the first time.")
    reentries = models.PositiveIntegerField(default=0)
    skips = models.PositiveIntegerField(default=0, help_text="Entries that jumped over a funnel stage.")
    exits = models.PositiveIntegerField(default=0)
    exit_seconds = models.BigIntegerField(default=0, help_text="Time in stage summed over the exits.")
    exit_sketch = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["organization", "day", "stage"], name="funnelday_org_day_idx")]


class CohortDay(OrgOwned):
    """Leads that first entered `from_stage` on a day and have since reached `to_stage`."""

    day = models.DateField(help_text="The day the leads first entered from_stage.")
    from_stage = models.CharField(max_length=40)
    to_stage = models.CharField(max_length=40)
    channel = models.CharField(max_length=60, blank=True)
    campaign = models.CharField(max_length=255, blank=True)
    owner = _owner()
    reached = models.PositiveIntegerField(default=0)
    lag_seconds = models.BigIntegerField(default=0, help_text="From first entering from_stage to to_stage.")

    class Meta:
        indexes = [models.Index(fields=["organization", "day", "from_stage"], name="cohortday_org_day_idx")]


class FunnelChannelDay(OrgOwned):
    """FunnelDay summed over owners and campaigns: what an ungrouped or by-channel report reads.

    A day holds a few rows per stage and channel instead of one per owner and
    campaign too, so a quarter's series reads thousands of rows, not millions."""

    day = models.DateField()
    stage = models.CharField(max_length=40)
    channel = models.CharField(max_length=60, blank=True)
    created = models.PositiveIntegerField(default=0)
    created_completeness = models.FloatField(default=0)
    entries = models.PositiveIntegerField(default=0)
    first_entries = models.PositiveIntegerField(default=0)
    reentries = models.PositiveIntegerField(default=0)
    skips = models.PositiveIntegerField(default=0)
    exits = models.PositiveIntegerField(default=0)
    exit_seconds = models.BigIntegerField(default=0)
    exit_sketch = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["organization", "day", "stage"], name="funnelchday_org_day_idx")]


class FunnelSegmentDay(OrgOwned):
    """FunnelDay by lead segment instead of channel: what a report grouped by segment reads.

    Membership is the lead's as it is now (like every other dimension): a lead
    counts under each segment it belongs to when the row is built, so a lead in
    two segments counts in both and the segments do not add up to the total.
    Leads in no segment have no row. Rebuilt with the funnel for its dirty
    days, and whole for a segment recomputed since the last run (see
    apps.measurement.services.rollup)."""

    day = models.DateField()
    segment = models.ForeignKey("strategy.Segment", on_delete=models.CASCADE, related_name="+")
    stage = models.CharField(max_length=40)
    created = models.PositiveIntegerField(default=0)
    created_completeness = models.FloatField(default=0)
    entries = models.PositiveIntegerField(default=0)
    first_entries = models.PositiveIntegerField(default=0)
    reentries = models.PositiveIntegerField(default=0)
    skips = models.PositiveIntegerField(default=0)
    exits = models.PositiveIntegerField(default=0)
    exit_seconds = models.BigIntegerField(default=0)
    exit_sketch = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["organization", "day", "stage"], name="funnelsegday_org_day_idx")]


class CohortChannelDay(OrgOwned):
    """CohortDay summed over owners and campaigns."""

    day = models.DateField()
    from_stage = models.CharField(max_length=40)
    to_stage = models.CharField(max_length=40)
    channel = models.CharField(max_length=60, blank=True)
    reached = models.PositiveIntegerField(default=0)
    lag_seconds = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["organization", "day", "from_stage"], name="cohortchday_org_day_idx")]


class OpportunityDay(OrgOwned):
    """Opportunities created (by created date) and closed (by close date) on a day."""

    day = models.DateField()
    channel = models.CharField(max_length=60, blank=True, help_text="The primary contact's channel.")
    campaign = models.CharField(max_length=255, blank=True)
    owner = _owner()
    type = models.CharField(max_length=20)
    created = models.PositiveIntegerField(default=0)
    created_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    won = models.PositiveIntegerField(default=0)
    won_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    lost = models.PositiveIntegerField(default=0)
    lost_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    won_cycle_days = models.BigIntegerField(default=0, help_text="Created to won, summed over won deals.")

    class Meta:
        indexes = [models.Index(fields=["organization", "day"], name="oppday_org_day_idx")]


class PipelineSpell(OrgOwned):
    """One open snapshot of an opportunity with a close date, from its history: the deal sat in the
    pipeline of the fiscal quarter holding that close date from `entered_at` until its next snapshot.

    The pipeline waterfall of any window of a quarter is read from these rows (apps.measurement.pipeline
    explains how). They are rebuilt per deal as its history grows, and whole on each rollup run;
    `channel` and `campaign` are the primary contact's as of that rebuild.
    """

    quarter_start = models.DateField(help_text="The first day of the fiscal quarter holding the close date.")
    opportunity = _deal()
    snapshot_id = models.BigIntegerField(help_text="The history snapshot: orders snapshots of one moment.")
    entered_at = models.DateTimeField(help_text="When the snapshot was written.")
    left_at = models.DateTimeField(null=True, blank=True, help_text="When the deal's next snapshot was.")
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    next_status = models.CharField(max_length=10, blank=True, help_text="The next snapshot's status.")
    next_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    first_seen = models.DateTimeField(help_text="The deal's first snapshot.")
    type = models.CharField(max_length=20)
    owner = _owner()
    channel = models.CharField(max_length=60, blank=True, help_text="The primary contact's channel.")
    campaign = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "quarter_start", "entered_at"], name="pipelinespell_quarter_idx"
            ),
            models.Index(fields=["organization", "opportunity"], name="pipelinespell_deal_idx"),
        ]


class PipelineChange(OrgOwned):
    """A deal whose history grew since its PipelineSpell rows were built.

    A trigger on the history table writes one per deal and statement, in the writing transaction
    (migration 0007), and the next refresh deletes the rows it can see and rebuilds their deals. A
    snapshot still uncommitted during a refresh leaves its row for the next one, so no change is lost
    whatever order transactions commit in."""

    opportunity = _deal()


class ResponseDay(OrgOwned):
    """Assignments offered on a day: acceptance, rejections, first touches, SLA outcomes."""

    day = models.DateField()
    channel = models.CharField(max_length=60, blank=True)
    campaign = models.CharField(max_length=255, blank=True)
    owner = _owner()
    reject_reason = models.CharField(max_length=40, blank=True)
    assignments = models.PositiveIntegerField(default=0)
    first_assignments = models.PositiveIntegerField(default=0, help_text="A lead's first assignment.")
    accepted = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    touched = models.PositiveIntegerField(default=0)
    system_seconds = models.BigIntegerField(default=0, help_text="Capture to first assignment.")
    system_sketch = models.JSONField(default=dict)
    accept_seconds = models.BigIntegerField(default=0, help_text="Offer to acceptance.")
    accept_sketch = models.JSONField(default=dict)
    touch_seconds = models.BigIntegerField(default=0, help_text="Offer to first touch.")
    touch_sketch = models.JSONField(default=dict)
    speed_touched = models.PositiveIntegerField(default=0, help_text="First assignments with a first touch.")
    speed_seconds = models.BigIntegerField(default=0, help_text="Capture to first touch (speed-to-lead).")
    speed_sketch = models.JSONField(default=dict)
    sla_timers = models.PositiveIntegerField(default=0)
    sla_met = models.PositiveIntegerField(default=0)
    sla_breached = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["organization", "day"], name="responseday_org_day_idx")]


class TouchDay(OrgOwned):
    """Marketing touchpoints on a day."""

    day = models.DateField()
    channel = models.CharField(max_length=60, blank=True)
    campaign = models.CharField(max_length=255, blank=True)
    touches = models.PositiveIntegerField(default=0)
    people = models.PositiveIntegerField(default=0, help_text="Distinct leads touched that day.")

    class Meta:
        indexes = [models.Index(fields=["organization", "day"], name="touchday_org_day_idx")]


class AttributionDay(OrgOwned):
    """Credit of the opportunities created on a day, by model and by what earned it."""

    day = models.DateField(help_text="The opportunity's created date.")
    model = models.CharField(max_length=20)
    channel = models.CharField(max_length=60, blank=True)
    source = models.CharField(max_length=120, blank=True)
    campaign = models.CharField(max_length=255, blank=True)
    opportunities = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    pipeline = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    won = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    revenue = models.DecimalField(max_digits=20, decimal_places=2, default=0)

    class Meta:
        indexes = [models.Index(fields=["organization", "model", "day"], name="attrday_org_model_day_idx")]


class DirtyDay(OrgOwned):
    """A day whose facts must be recomputed on the next run, whatever the watermark says."""

    day = models.DateField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="dirtyday_unique")]


class RollupState(OrgOwned):
    """Where an organisation's rollups stand: the watermark and the run in progress."""

    watermark = models.DateTimeField(null=True, blank=True, help_text="Rows written before it are rolled up.")
    last_local_date = models.DateField(null=True, blank=True, help_text="The local day of the last run.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    days_total = models.PositiveIntegerField(default=0)
    days_done = models.PositiveIntegerField(default=0)
    full = models.BooleanField(default=False)
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    pipeline_version = models.PositiveIntegerField(
        default=0, help_text="Counts the refreshes that changed PipelineSpell rows (waterfalls cache by it)."
    )
    pipeline_fiscal_month = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The fiscal year's first month those rows' quarters were cut by."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="rollupstate_one_per_org")]

    @property
    def running(self) -> bool:
        if self.started_at is None:
            return False
        return self.finished_at is None or self.finished_at < self.started_at

    @property
    def percent(self) -> int:
        return round(100 * self.days_done / self.days_total) if self.days_total else 0


class MeasurementSettings(OrgOwned):
    """Per-organisation choices the metrics and attribution depend on."""

    attribution_lookback_days = models.PositiveSmallIntegerField(
        default=90, help_text="Touches older than this before the opportunity was created earn no credit."
    )
    time_decay_half_life_days = models.FloatField(default=7.0)
    gross_margin = models.DecimalField(
        max_digits=4, decimal_places=3, default=0.8, help_text="For LTV and CAC payback (0.8 = 80 %)."
    )

    class Meta:
        verbose_name_plural = "measurement settings"
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="measurementsettings_one_per_org")
        ]


class BacklogDay(OrgOwned):
    """The "no man's land" of one working stage on a day, as last counted that day.

    Counts open (unmerged) leads in the stage at the default thresholds of
    apps.execution.selectors.stuck: `unowned` have no owner, `overdue` waited in
    the stage past its limit, `stuck` is either. A day's row is recounted every
    few minutes while the day lasts, so its last count is within minutes of the
    day's end.
    """

    day = models.DateField()
    stage = models.CharField(max_length=40)
    open = models.PositiveIntegerField(default=0)
    unowned = models.PositiveIntegerField(default=0)
    overdue = models.PositiveIntegerField(default=0)
    stuck = models.PositiveIntegerField(default=0)
    counted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "day", "stage"], name="backlogday_unique")
        ]
