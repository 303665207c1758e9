"""The system of record: stages, accounts, leads, opportunities, customers, touchpoints.

Every stage change of a lead is an append-only `StageEvent`; time-in-stage,
re-entry and skipped stages are computed from those events (see stages.py).
All writes go through services.py.
"""

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone

from apps.core.models import OrgOwned

from .stages import DETOUR, FUNNEL


class ObjectType(models.TextChoices):
    LEAD = "lead", "Lead"
    ACCOUNT = "account", "Account"
    OPPORTUNITY = "opportunity", "Opportunity"


class Origin(models.TextChoices):
    API = "api", "API"
    UI = "ui", "UI"
    IMPORT = "import", "Import"
    AUTOMATION = "automation", "Automation"


@pghistory.track()
class LifecycleStage(OrgOwned):
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    order = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=[(FUNNEL, "Funnel"), (DETOUR, "Detour")], default=FUNNEL)
    entry_criteria = models.TextField(help_text="Written, so everyone applies the same definition.")
    owner_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Optional machine rule: a list of conditions (apps.records.conditions) that moves a lead here.
    rule = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["order"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="stage_unique_key")]

    def __str__(self):
        return self.name


class StageDefinitionVersion(OrgOwned):
    """A published set of stage definitions, effective from a moment, for replaying history."""

    number = models.PositiveIntegerField()
    effective_from = models.DateTimeField(default=timezone.now)
    snapshot = models.JSONField()
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="stage_version_unique")
        ]


@pghistory.track()
class CustomField(OrgOwned):
    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        CHOICE = "choice", "Choice"

    object_type = models.CharField(max_length=20, choices=ObjectType.choices)
    key = models.SlugField(max_length=60)
    label = models.CharField(max_length=120)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.TEXT)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=False)

    class Meta:
        ordering = ["object_type", "label"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "object_type", "key"], name="custom_field_unique")
        ]


@pghistory.track(exclude=["completeness"])
class Account(OrgOwned):
    external_id = models.CharField(max_length=120, null=True, blank=True)
    name = models.CharField(max_length=255)
    domain = models.CharField(max_length=255, blank=True, db_index=True)
    industry = models.CharField(max_length=120, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    region = models.CharField(max_length=60, blank=True)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_accounts"
    )
    custom = models.JSONField(default=dict, blank=True)
    completeness = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="account_unique_external_id",
                condition=models.Q(external_id__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["organization", "domain"], name="account_org_domain_idx"),
            models.Index(fields=["organization", "-created_at", "-id"], name="account_org_created_idx"),
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="account_name_trgm"),
        ]

    def __str__(self):
        return self.name


# Creation is already on record (the first StageEvent carries actor and origin,
# an import its job), so lead inserts are not snapshotted again: at a million
# rows per import that would double the write. Updates and deletes are.
@pghistory.track(
    pghistory.UpdateEvent(), pghistory.DeleteEvent(), exclude=["completeness", "stage_entered_at"]
)
class Lead(OrgOwned):
    """A person: lead or contact. `stage` is the current lifecycle stage (its history is StageEvent)."""

    external_id = models.CharField(max_length=120, null=True, blank=True)
    email = models.CharField(max_length=254, blank=True)
    first_name = models.CharField(max_length=120, blank=True)
    last_name = models.CharField(max_length=120, blank=True)
    title = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=60, blank=True)
    company = models.CharField(max_length=255, blank=True)
    country = models.CharField(max_length=2, blank=True)
    source = models.CharField(max_length=120, blank=True, help_text="As received.")
    channel = models.CharField(
        max_length=60, blank=True, help_text="Canonical channel from the source mapping."
    )
    utm_source = models.CharField(max_length=255, blank=True)
    utm_medium = models.CharField(max_length=255, blank=True)
    utm_campaign = models.CharField(max_length=255, blank=True)
    utm_term = models.CharField(max_length=255, blank=True)
    utm_content = models.CharField(max_length=255, blank=True)
    custom = models.JSONField(default=dict, blank=True)
    stage = models.ForeignKey(LifecycleStage, on_delete=models.PROTECT, related_name="leads")
    stage_entered_at = models.DateTimeField(default=timezone.now)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_leads"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    score = models.IntegerField(default=0)
    captured_at = models.DateTimeField(default=timezone.now)
    completeness = models.FloatField(default=0)
    # Set when this record was merged into another; merged records are hidden from lists.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="lead_unique_external_id",
                condition=models.Q(external_id__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["organization", "email"], name="lead_org_email_idx"),
            models.Index(fields=["organization", "-created_at", "-id"], name="lead_org_created_idx"),
            models.Index(fields=["organization", "captured_at"], name="lead_org_captured_idx"),
            models.Index(fields=["organization", "stage"], name="lead_org_stage_idx"),
            models.Index(fields=["organization", "owner"], name="lead_org_owner_idx"),
            models.Index(fields=["organization", "account"], name="lead_org_account_idx"),
            # Trigram indexes make the list search (ILIKE '%…%') fast at millions of rows.
            GinIndex(fields=["email"], opclasses=["gin_trgm_ops"], name="lead_email_trgm"),
            GinIndex(fields=["company"], opclasses=["gin_trgm_ops"], name="lead_company_trgm"),
            GinIndex(fields=["first_name"], opclasses=["gin_trgm_ops"], name="lead_first_name_trgm"),
            GinIndex(fields=["last_name"], opclasses=["gin_trgm_ops"], name="lead_last_name_trgm"),
        ]

    def __str__(self):
        return self.full_name or self.email or f"Lead {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class StageEvent(OrgOwned):
    """One stage change of a lead. Append-only: a trigger refuses UPDATE and DELETE."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_events")
    from_stage = models.CharField(max_length=40, blank=True)
    to_stage = models.CharField(max_length=40)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_prefix = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    origin = models.CharField(max_length=12, choices=Origin.choices)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["organization", "lead", "at"], name="stage_event_lead_idx"),
            models.Index(fields=["organization", "at"], name="stage_event_org_at_idx"),
            # Rollups find late-arriving events by when they were written.
            models.Index(fields=["organization", "created_at"], name="stage_event_org_written_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="stage_event_append_only", operation=pgtrigger.Update),
        ]


# The pipeline waterfall's rollup rows are built from this history (apps.measurement.facts.build_pipeline).
@pghistory.track()
class Opportunity(OrgOwned):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    class Type(models.TextChoices):
        NEW_BUSINESS = "new_business", "New business"
        EXPANSION = "expansion", "Expansion"
        RENEWAL = "renewal", "Renewal"

    external_id = models.CharField(max_length=120, null=True, blank=True)
    name = models.CharField(max_length=255)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    primary_contact = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, blank=True)
    stage = models.CharField(max_length=60, blank=True, help_text="The sales stage, as the CRM names it.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.NEW_BUSINESS)
    source = models.CharField(max_length=120, blank=True)
    created_date = models.DateField(default=timezone.localdate)
    close_date = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        "accounts.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_opportunities",
    )
    loss_reason = models.CharField(max_length=200, blank=True)
    custom = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "opportunities"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="opportunity_unique_external_id",
                condition=models.Q(external_id__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="opp_org_created_idx"),
            models.Index(fields=["organization", "status", "close_date"], name="opp_org_status_idx"),
        ]

    def __str__(self):
        return self.name


@pghistory.track()
class Customer(OrgOwned):
    """Subscription facts of a paying account, for LTV and retention."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="subscriptions")
    arr = models.DecimalField(max_digits=16, decimal_places=2)
    start_date = models.DateField()
    churn_date = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "start_date"], name="customer_org_start_idx")]


class Touchpoint(OrgOwned):
    """One interaction of a person with a channel or campaign."""

    external_id = models.CharField(max_length=120, null=True, blank=True)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="touchpoints"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="touchpoints"
    )
    channel = models.CharField(max_length=60, blank=True)
    source = models.CharField(max_length=120, blank=True)
    medium = models.CharField(max_length=120, blank=True)
    utm_source = models.CharField(max_length=255, blank=True)
    utm_medium = models.CharField(max_length=255, blank=True)
    utm_campaign = models.CharField(max_length=255, blank=True)
    utm_term = models.CharField(max_length=255, blank=True)
    utm_content = models.CharField(max_length=255, blank=True)
    campaign_ref = models.CharField(max_length=255, blank=True)
    type = models.CharField(
        max_length=40, blank=True, help_text="form, email_click, ad_click, visit, event, meeting…"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    # db_default: bulk loaders COPY touchpoints with an explicit column list.
    note = models.CharField(
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="What a rep logged with a call or e-mail.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="touchpoint_unique_external_id",
                condition=models.Q(external_id__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["organization", "lead", "occurred_at"], name="touch_org_lead_idx"),
            models.Index(fields=["organization", "occurred_at"], name="touch_org_at_idx"),
            models.Index(fields=["organization", "-created_at", "-id"], name="touch_org_created_idx"),
        ]


@pghistory.track()
class SourceMapping(OrgOwned):
    """Maps a raw source or UTM value (case-insensitive) to a canonical channel."""

    raw_value = models.CharField(max_length=255, help_text="Stored lower-case.")
    channel = models.CharField(max_length=60, help_text="e.g. Paid Social")
    source_name = models.CharField(max_length=120, blank=True, help_text="e.g. LinkedIn")

    class Meta:
        ordering = ["raw_value"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "raw_value"], name="source_mapping_unique")
        ]


class DuplicateCandidate(OrgOwned):
    class Reason(models.TextChoices):
        EMAIL = "email", "Same e-mail"
        FUZZY = "fuzzy", "Similar name and company"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MERGED = "merged", "Merged"
        DISMISSED = "dismissed", "Not a duplicate"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=10, choices=Reason.choices)
    score = models.FloatField(default=1.0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "other"], name="duplicate_pair_unique")]
        indexes = [models.Index(fields=["organization", "status"], name="duplicate_org_status_idx")]


@pghistory.track()
class CompletenessRule(OrgOwned):
    """A field that counts toward a record's completeness score, with its weight."""

    object_type = models.CharField(max_length=20, choices=ObjectType.choices)
    field = models.CharField(max_length=80, help_text="A standard field or custom.<key>.")
    weight = models.PositiveSmallIntegerField(default=1)
    required = models.BooleanField(default=False, help_text="Records missing it are flagged as incomplete.")

    class Meta:
        ordering = ["object_type", "-weight", "field"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "object_type", "field"], name="completeness_rule_unique"
            )
        ]


@pghistory.track()
class SavedView(OrgOwned):
    """A named list view: filters, columns and sort, shown as a tab."""

    class Visibility(models.TextChoices):
        PRIVATE = "private", "Only me"
        TEAM = "team", "My team"
        ORGANIZATION = "organization", "Everyone"

    object_type = models.CharField(max_length=20, choices=ObjectType.choices)
    name = models.CharField(max_length=80)
    visibility = models.CharField(max_length=15, choices=Visibility.choices, default=Visibility.PRIVATE)
    owner = models.ForeignKey("accounts.Membership", on_delete=models.CASCADE, related_name="saved_views")
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    filters = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list, blank=True)
    sort = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["name"]


class Merge(OrgOwned):
    """A merge of one lead into another, with everything needed to undo it."""

    survivor = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges_kept")
    merged = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges_absorbed")
    field_choices = models.JSONField(default=dict, help_text="field -> 'survivor' | 'merged'")
    survivor_before = models.JSONField()
    moved = models.JSONField(default=dict, help_text="ids of rows re-pointed to the survivor, by kind")
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
