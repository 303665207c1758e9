"""Change requests: the only way the operating model changes once an organisation governs it.

A request proposes a new state for one subject (the stage definitions, a routing policy, an SLA policy,
the metric settings, the KPI tree); it moves draft → in review → approved → applied (on its effective
date) and can be rolled back. `before` is the subject's state when the request was applied (what a
rollback restores), `proposed` the state it asks for; both are JSON in the subject's own export format,
so a diff is a diff of two documents and the definitions page can show the model as of any date.
"""

import pghistory
from django.db import models

from apps.core.models import OrgOwned


class ChangeSubject(models.TextChoices):
    STAGES = "stages", "Stage definitions"
    ROUTING = "routing", "Routing policy"
    SLA = "sla", "SLA policy"
    METRICS = "metrics", "Metric definitions"
    KPI = "kpi", "KPI tree"


class ChangeStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    ROLLED_BACK = "rolled_back", "Rolled back"


@pghistory.track()
class ChangeRequest(OrgOwned):
    subject = models.CharField(max_length=10, choices=ChangeSubject.choices)
    # The object changed when the subject has several (a routing policy, an SLA policy); null otherwise.
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    title = models.CharField(max_length=200)
    rationale = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=ChangeStatus.choices, default=ChangeStatus.DRAFT)
    proposed = models.JSONField(default=dict, blank=True)
    before = models.JSONField(null=True, blank=True)
    impact = models.JSONField(null=True, blank=True, help_text="The last impact preview, when it has one.")
    effective_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status", "effective_at"], name="change_org_status_idx"),
            models.Index(fields=["organization", "subject", "applied_at"], name="change_org_subject_idx"),
        ]

    def __str__(self):
        return self.title


class GovernanceSettings(OrgOwned):
    """Whether the operating model is under change control: when it is, stage definitions, routing
    policies, SLA policies, metric settings and the KPI tree change only through applied change requests."""

    change_control = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "governance settings"
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="governance_settings_one_per_org")
        ]

    def __str__(self):
        return f"Governance settings ({'change control' if self.change_control else 'direct edits'})"
