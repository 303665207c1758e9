"""Campaigns from intake to results, the organisation's UTM conventions and the QA checklist.

A campaign is linked to its touchpoints, leads, spend and rollup rows by its
`utm_campaign` value, the same string the ingest and the spend ledger carry.
Its status moves along the workflow (requested → triaged → in build → in QA →
approved → live → completed, or cancelled from anywhere before completed);
every move is a CampaignTransition row, so cycle time and on-time launch are
read from the transitions, and an approval over a failing check records who
overrode it and why.
"""

import pghistory
from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


class CampaignType(models.TextChoices):
    WEBINAR = "webinar", "Webinar"
    PAID_SOCIAL = "paid_social", "Paid social"
    PAID_SEARCH = "paid_search", "Paid search"
    EMAIL = "email", "E-mail"
    EVENT = "event", "Event"
    CONTENT = "content", "Content"
    OUTBOUND = "outbound", "Outbound"
    PARTNER = "partner", "Partner"


class CampaignStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    TRIAGED = "triaged", "Triaged"
    IN_BUILD = "in_build", "In build"
    IN_QA = "in_qa", "In QA"
    APPROVED = "approved", "Approved"
    LIVE = "live", "Live"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


@pghistory.track()
class Campaign(OrgOwned):
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=20, choices=CampaignType.choices)
    channel = models.CharField(
        max_length=60, blank=True, help_text="A canonical channel, as source mappings name them."
    )
    brief = models.TextField(blank=True, help_text="What the requester wants, for whom and why.")
    status = models.CharField(max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.REQUESTED)
    segment = models.ForeignKey(
        "strategy.Segment", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    offer = models.ForeignKey(
        "strategy.Offer", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    program = models.ForeignKey(
        "strategy.Program", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    requested_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    # Set at triage: who in operations builds it, and by when it must be live.
    ops_owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True, help_text="When it must be live.")
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    planned_budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    utm_source = models.CharField(max_length=255, blank=True)
    utm_medium = models.CharField(max_length=255, blank=True)
    utm_campaign = models.CharField(max_length=255, blank=True)
    landing_url = models.URLField(max_length=500, blank=True)
    success_metric = models.CharField(max_length=60, blank=True, help_text="A catalogue metric key.")
    success_target = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    # Routing rule conditions describing who the campaign should bring in, for the QA routing check.
    expected_audience = models.JSONField(default=list, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    live_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "utm_campaign"],
                condition=~Q(utm_campaign=""),
                name="campaign_utm_campaign_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status"], name="campaign_org_status_idx"),
            models.Index(fields=["organization", "-created_at", "-id"], name="campaign_org_created_idx"),
        ]

    def __str__(self):
        return self.name


class CampaignTransition(OrgOwned):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12, choices=CampaignStatus.choices)
    actor = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A move made through the API has no member behind it: the key that made it (as StageEvent).
    api_key_prefix = models.CharField(max_length=16, blank=True)
    at = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True)
    # Set when an approver moved it on although checks failed: the reason is required then.
    override_reason = models.CharField(max_length=500, blank=True)
    failed_checks = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["organization", "campaign", "at"], name="campaign_transition_idx")]

    def __str__(self):
        return f"{self.campaign}: {self.from_status or '-'} → {self.to_status}"


class QaCheckKind(models.TextChoices):
    UTM_VALID = "utm_valid", "UTM values follow the taxonomy"
    JOURNEY_ATTACHED = "journey_attached", "A follow-up journey is attached"
    ROUTING_COVERS = "routing_covers", "Routing covers the expected audience"
    BUDGET_AND_KPI = "budget_and_kpi", "Budget and success KPI are set"
    MANUAL = "manual", "Checked by hand"


class QaCheck(OrgOwned):
    """One item of the organisation's QA checklist; the automatic kinds are evaluated, manual ones ticked."""

    kind = models.CharField(max_length=20, choices=QaCheckKind.choices)
    label = models.CharField(max_length=200)
    required = models.BooleanField(default=True, help_text="A failing required check blocks going live.")
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.label


class QaResult(OrgOwned):
    """The last result of one check for one campaign (a manual check is ticked by a person)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="qa_results")
    item = models.ForeignKey(QaCheck, on_delete=models.CASCADE, related_name="results")
    passed = models.BooleanField()
    detail = models.CharField(max_length=500, blank=True)
    checked_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "item"], name="qa_result_unique")]

    def __str__(self):
        return f"{self.campaign} / {self.item}: {'pass' if self.passed else 'fail'}"


@pghistory.track()
class UtmTaxonomy(OrgOwned):
    """The organisation's UTM conventions: allowed sources and mediums and a pattern for campaign values."""

    allowed_sources = models.JSONField(default=list, blank=True)
    allowed_mediums = models.JSONField(default=list, blank=True)
    # A regular expression a utm_campaign value must match in full, with a plain description of it.
    campaign_pattern = models.CharField(max_length=300, blank=True)
    campaign_pattern_help = models.CharField(max_length=300, blank=True)
    lowercase = models.BooleanField(default=True, help_text="Values must be lower case.")
    # Off: records breaking the conventions are stored and reported (utm_problems, the violations
    # page). On: the API and the CSV import refuse them.
    enforce_at_ingest = models.BooleanField(
        default=False, help_text="Refuse leads and touchpoints whose UTM values break the conventions."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="utm_taxonomy_one_per_org")]

    def __str__(self):
        return f"UTM taxonomy of {self.organization_id}"
