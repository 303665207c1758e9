"""Routing: policies and their versions, pools with a fairness ledger, and
every request, decision and assignment, kept so each one can be explained."""

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from apps.core.models import OrgOwned
from apps.execution.routing import types

STRATEGY_CHOICES = list(types.STRATEGIES.items())


@pghistory.track()
class RoutingPool(OrgOwned):
    """A queue of people sharing work by one strategy (usually one team)."""

    name = models.CharField(max_length=120)
    strategy = models.CharField(max_length=20, choices=STRATEGY_CHOICES, default=types.ROUND_ROBIN)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="pools"
    )
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="pool_unique_name")]

    def __str__(self):
        return self.name


class PoolMember(OrgOwned):
    """A person's place in a pool and their fairness ledger there.

    Removing someone from a pool only deactivates the row, so their ledger
    (assignments, rejections, credits and place in the rotation) survives pool
    edits and picks up where it left off when they come back.
    """

    pool = models.ForeignKey(RoutingPool, on_delete=models.CASCADE, related_name="members")
    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.CASCADE, related_name="pool_memberships"
    )
    is_active = models.BooleanField(default=True)
    weight = models.PositiveSmallIntegerField(default=1, help_text="Weighted round robin: share of leads.")
    territories = ArrayField(
        models.CharField(max_length=60), default=list, blank=True, help_text="Country codes or regions."
    )
    # The fairness ledger.
    pass_value = models.FloatField(default=0)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    assigned_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    credits = models.PositiveIntegerField(default=0, help_text="Turns given back after a rejection.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pool", "membership"], name="poolmember_unique"),
            models.CheckConstraint(condition=models.Q(weight__gte=1), name="poolmember_weight_positive"),
        ]

    def __str__(self):
        return f"{self.membership} in {self.pool}"


class RoutingPolicy(OrgOwned):
    """One per routed object; its rules live in versions (one draft, one published)."""

    class Object(models.TextChoices):
        LEAD = "lead", "Leads"
        ACCOUNT = "account", "Accounts"
        OPPORTUNITY = "opportunity", "Opportunities"

    object_type = models.CharField(max_length=20, choices=Object.choices, default=Object.LEAD)
    name = models.CharField(max_length=120)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "object_type"], name="policy_unique_object")
        ]

    def __str__(self):
        return self.name


@pghistory.track()
class RoutingPolicyVersion(OrgOwned):
    """An immutable-once-published snapshot of a policy's rules.

    `rules` is a list of {"name", "conditions": [...], "action": {"type",
    "person", "pool", "min_completeness"}}; `fallback_pool` catches the rest.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    policy = models.ForeignKey(RoutingPolicy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    rules = models.JSONField(default=list, blank=True)
    fallback_pool = models.ForeignKey(
        RoutingPool, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)
    # What publishing changed against the version it replaced (unified diff lines).
    diff = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policyversion_unique_number"),
            models.UniqueConstraint(
                fields=["policy"], condition=models.Q(status="draft"), name="policyversion_one_draft"
            ),
            models.UniqueConstraint(
                fields=["policy"], condition=models.Q(status="published"), name="policyversion_one_published"
            ),
        ]

    def __str__(self):
        return f"{self.policy} v{self.number} ({self.status})"


@pghistory.track()
class RejectReason(OrgOwned):
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=120)
    order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "label"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="rejectreason_unique_key")
        ]

    def __str__(self):
        return self.label


class Trigger(models.TextChoices):
    CREATED = "created", "Lead created"
    QUALIFIED = "qualified", "Lead qualified"
    REJECTED = "rejected", "Rejected by a rep"
    REASSIGNED = "reassigned", "Reassigned"
    ESCALATED = "escalated", "SLA escalation"
    DATA_COMPLETE = "data_complete", "Data completed"
    MANUAL = "manual", "Routed by hand"
    ACCOUNT_CREATED = "account_created", "Account created without an owner"
    OPPORTUNITY_CREATED = "opportunity_created", "Opportunity created without an owner"


# Routing requests and decisions concern exactly one record: a lead, an account or an opportunity.
ONE_SUBJECT = (
    models.Q(lead__isnull=False, account__isnull=True, opportunity__isnull=True)
    | models.Q(lead__isnull=True, account__isnull=False, opportunity__isnull=True)
    | models.Q(lead__isnull=True, account__isnull=True, opportunity__isnull=False)
)


class Routed(models.Model):
    """The record a request or decision is about: a lead (each model declares its
    own `lead`, with its reverse name), an account or an opportunity."""

    account = models.ForeignKey(
        "records.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    opportunity = models.ForeignKey(
        "records.Opportunity", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        abstract = True

    @property
    def object_type(self) -> str:
        if self.lead_id:
            return RoutingPolicy.Object.LEAD
        return RoutingPolicy.Object.ACCOUNT if self.account_id else RoutingPolicy.Object.OPPORTUNITY

    @property
    def subject(self):
        return self.lead or self.account or self.opportunity


class RoutingRequest(Routed, OrgOwned):
    """The routing outbox: written in the transaction that creates or
    qualifies a lead (or creates an unowned account or opportunity), so a
    crash between commit and routing loses nothing."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    lead = models.ForeignKey(
        "records.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="routing_requests"
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # Reps to skip on this pass (they rejected the lead).
    exclude = ArrayField(models.BigIntegerField(), default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], name="routingrequest_pending_idx", condition=models.Q(status="pending")
            ),
            models.Index(fields=["lead"], name="routingrequest_lead_idx"),
        ]
        constraints = [models.CheckConstraint(condition=ONE_SUBJECT, name="routingrequest_one_subject")]

    def __str__(self):
        pk = self.lead_id or self.account_id or self.opportunity_id
        return f"Route {self.object_type} {pk} ({self.trigger}, {self.status})"


class RoutingDecision(Routed, OrgOwned):
    """What the engine decided and why, exactly as it saw the world.

    For a lead, an assignment is an offer the rep accepts or rejects; an
    account or opportunity is simply given to its new owner."""

    lead = models.ForeignKey(
        "records.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="routing_decisions"
    )
    request = models.ForeignKey(
        RoutingRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    policy_version = models.ForeignKey(
        RoutingPolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    outcome = models.CharField(max_length=10)
    rule_index = models.PositiveSmallIntegerField(null=True, blank=True)
    rule_name = models.CharField(max_length=200, blank=True)
    assignee = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pool = models.ForeignKey(RoutingPool, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    considered = models.JSONField(default=list)  # [{"candidate", "name", "excluded", "pool"}]
    trail = models.JSONField(default=list)
    # {"queued_ms": request → decision start, "decide_ms": engine + writes}
    timings = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "lead", "-created_at"], name="decision_lead_idx"),
            models.Index(
                fields=["organization", "account", "-created_at"],
                name="decision_account_idx",
                condition=models.Q(account__isnull=False),
            ),
            models.Index(
                fields=["organization", "opportunity", "-created_at"],
                name="decision_opportunity_idx",
                condition=models.Q(opportunity__isnull=False),
            ),
        ]
        constraints = [models.CheckConstraint(condition=ONE_SUBJECT, name="routingdecision_one_subject")]

    def __str__(self):
        return f"Decision {self.pk}: {self.outcome}"


class Assignment(OrgOwned):
    """A lead offered to one rep; at most one offered or accepted per lead,
    enforced by the database so no lead is ever assigned twice."""

    class Status(models.TextChoices):
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        REASSIGNED = "reassigned", "Reassigned"
        CLOSED = "closed", "Closed"

    LIVE = (Status.OFFERED, Status.ACCEPTED)

    lead = models.ForeignKey("records.Lead", on_delete=models.CASCADE, related_name="assignments")
    decision = models.ForeignKey(
        RoutingDecision, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments"
    )
    assignee = models.ForeignKey("accounts.Membership", on_delete=models.CASCADE, related_name="assignments")
    pool = models.ForeignKey(
        RoutingPool, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFERED)
    offered_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.ForeignKey(
        RejectReason, null=True, blank=True, on_delete=models.PROTECT, related_name="assignments"
    )
    reject_note = models.CharField(max_length=500, blank=True)
    first_touch_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Who ended it by hand (a reassignment) or responded.
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=models.Q(status__in=["offered", "accepted"]),
                name="assignment_one_live_per_lead",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "assignee", "status"], name="assignment_assignee_idx"),
            models.Index(fields=["organization", "-offered_at"], name="assignment_offered_idx"),
            models.Index(fields=["lead", "-offered_at"], name="assignment_lead_idx"),
            # The API's keyset pagination walks (created_at, id) within one organisation.
            models.Index(fields=["organization", "-created_at", "-id"], name="assignment_org_created_idx"),
        ]

    def __str__(self):
        return f"Lead {self.lead_id} → {self.assignee_id} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE
