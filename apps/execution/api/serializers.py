"""Input and output shapes of the routing API. Inputs refuse unknown fields."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.serializers import StrictSerializer
from apps.execution.routing import types
from apps.records.api.serializers import LeadInput, TouchpointOutput

# A touch logged a little ahead of the server clock is clock skew; further ahead it
# would meet a first-touch SLA before anyone picked up the phone.
TOUCH_CLOCK_SKEW = timedelta(minutes=5)


class Ref(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ReasonRef(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()


def member_ref(membership) -> dict | None:
    return None if membership is None else {"id": membership.pk, "name": membership.user.display_name}


def pool_ref(pool) -> dict | None:
    return None if pool is None else {"id": pool.pk, "name": pool.name}


class ConsideredOutput(serializers.Serializer):
    candidate = serializers.IntegerField(help_text="A member id.")
    name = serializers.CharField()
    excluded = serializers.CharField(
        allow_null=True, help_text="Why they were not chosen (a key); null for the one chosen."
    )
    excluded_label = serializers.CharField(allow_null=True)
    pool = serializers.IntegerField(allow_null=True, help_text="The pool they were looked at in, if any.")


def considered_rows(considered) -> list[dict]:
    """Stored rows (dicts) or the engine's `Considered` records, with each exclusion's label."""
    rows = []
    for item in considered:
        row = item if isinstance(item, dict) else item.__dict__
        excluded = row.get("excluded")
        rows.append(
            {
                "candidate": row.get("candidate"),
                "name": row.get("name", ""),
                "excluded": excluded,
                "excluded_label": types.EXCLUSIONS.get(excluded, excluded) if excluded else None,
                "pool": row.get("pool"),
            }
        )
    return rows


class DecisionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=[types.ASSIGNED, types.HELD, types.QUEUED])
    trigger = serializers.CharField()
    policy_version = serializers.IntegerField(
        source="policy_version.number", allow_null=True, default=None, help_text="The version number."
    )
    rule_index = serializers.IntegerField(
        allow_null=True, help_text="0-based; null when the fallback decided."
    )
    rule_name = serializers.CharField()
    assignee = serializers.SerializerMethodField()
    pool = serializers.SerializerMethodField()
    considered = serializers.SerializerMethodField()
    trail = serializers.ListField(child=serializers.CharField())
    timings = serializers.DictField(child=serializers.FloatField())
    created_at = serializers.DateTimeField()

    @extend_schema_field(Ref(allow_null=True))
    def get_assignee(self, decision):
        return member_ref(decision.assignee)

    @extend_schema_field(Ref(allow_null=True))
    def get_pool(self, decision):
        return pool_ref(decision.pool)

    @extend_schema_field(ConsideredOutput(many=True))
    def get_considered(self, decision):
        return considered_rows(decision.considered)


class AssignmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    lead = serializers.IntegerField(source="lead_id")
    decision = serializers.IntegerField(source="decision_id", allow_null=True)
    status = serializers.CharField()
    assignee = serializers.SerializerMethodField()
    pool = serializers.SerializerMethodField()
    offered_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    rejected_at = serializers.DateTimeField(allow_null=True)
    reject_reason = serializers.SerializerMethodField()
    reject_note = serializers.CharField()
    first_touch_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(Ref)
    def get_assignee(self, assignment):
        return member_ref(assignment.assignee)

    @extend_schema_field(Ref(allow_null=True))
    def get_pool(self, assignment):
        return pool_ref(assignment.pool)

    @extend_schema_field(ReasonRef(allow_null=True))
    def get_reject_reason(self, assignment):
        reason = assignment.reject_reason
        return None if reason is None else {"key": reason.key, "label": reason.label}


class TimerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    assignment = serializers.IntegerField(source="assignment_id")
    clock = serializers.CharField()
    policy = serializers.SerializerMethodField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    met_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(Ref)
    def get_policy(self, timer):
        return {"id": timer.policy_id, "name": timer.policy.name}


class LeadRoutingOutput(serializers.Serializer):
    decisions = DecisionOutput(many=True, help_text="Newest first.")
    assignments = AssignmentOutput(many=True, help_text="Newest first.")
    sla_timers = TimerOutput(many=True, help_text="Newest first.")


class OwnerRoutingOutput(serializers.Serializer):
    decisions = DecisionOutput(many=True, help_text="Newest first.")


class TouchInput(StrictSerializer):
    kind = serializers.ChoiceField(choices=["call", "email", "meeting"])
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False, help_text="When it happened; defaults to now.")

    def validate_occurred_at(self, value):
        if value > timezone.now() + TOUCH_CLOCK_SKEW:
            raise serializers.ValidationError("A touch cannot be in the future.")
        return value


class TouchAssignment(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    first_touch_at = serializers.DateTimeField(allow_null=True)


class TouchOutput(serializers.Serializer):
    touchpoint = TouchpointOutput()
    assignment = TouchAssignment(allow_null=True, help_text="The lead's live assignment, if any.")


class RejectInput(StrictSerializer):
    reason = serializers.SlugField(max_length=40, help_text="The key of a reject reason.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class RejectReasonOutput(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    label = serializers.CharField()
    order = serializers.IntegerField()
    is_active = serializers.BooleanField()


class PreviewLeadData(LeadInput):
    """The fields of a lead as `POST /leads/` takes them, less those a preview cannot use."""

    # An unsaved lead has no identity, owner or history yet; its account is matched by domain.
    external_id = None
    owner = None
    account = None
    captured_at = None


class PreviewInput(StrictSerializer):
    lead = serializers.IntegerField(required=False, help_text="An existing lead's id.")
    lead_data = PreviewLeadData(required=False, help_text="Or the fields of a lead that does not exist yet.")
    account = serializers.IntegerField(
        required=False, help_text="Or an existing account's id, previewed under the account policy."
    )
    opportunity = serializers.IntegerField(
        required=False, help_text="Or an existing opportunity's id, previewed under the opportunity policy."
    )
    version = serializers.ChoiceField(
        choices=["draft", "published"],
        required=False,
        help_text="Which rules to use; by default the draft if there is one, else the published version.",
    )

    SUBJECTS = ("lead", "lead_data", "account", "opportunity")

    def validate(self, data):
        given = [key for key in self.SUBJECTS if key in data]
        if len(given) > 1:
            raise serializers.ValidationError({given[1]: [f"Give only one of {', '.join(self.SUBJECTS)}."]})
        if not given:
            raise serializers.ValidationError(
                {"lead": ["Give a lead id, lead_data, an account id or an opportunity id."]}
            )
        return data


class VersionRef(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField()


class PreviewOutput(serializers.Serializer):
    version = VersionRef(allow_null=True, help_text="The policy version used; null when there is none.")
    outcome = serializers.ChoiceField(choices=[types.ASSIGNED, types.HELD, types.QUEUED])
    assignee = Ref(allow_null=True)
    pool = Ref(allow_null=True)
    rule_index = serializers.IntegerField(allow_null=True)
    rule_name = serializers.CharField()
    considered = ConsideredOutput(many=True)
    trail = serializers.ListField(child=serializers.CharField())
