"""Input and output shapes of the records API. Inputs refuse unknown fields."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.serializers import StrictSerializer
from apps.execution.services import utm
from apps.records.models import Opportunity


class SparseFieldsMixin:
    """`?fields=id,email,stage` trims the output to those fields."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        wanted = request.query_params.get("fields") if request is not None else None
        # Whether `fields` was trimmed: a hand-built representation can skip DRF's
        # per-instance copy of the declared fields when it was not.
        self.trimmed = bool(wanted)
        if wanted:
            keep = {f.strip() for f in wanted.split(",") if f.strip()}
            for name in list(self.fields):
                if name not in keep:
                    self.fields.pop(name)


class LeadOutput(SparseFieldsMixin, serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    email = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    title = serializers.CharField()
    phone = serializers.CharField()
    company = serializers.CharField()
    country = serializers.CharField()
    source = serializers.CharField()
    channel = serializers.CharField()
    utm_source = serializers.CharField()
    utm_medium = serializers.CharField()
    utm_campaign = serializers.CharField()
    utm_term = serializers.CharField()
    utm_content = serializers.CharField()
    stage = serializers.CharField(source="stage.key")
    stage_entered_at = serializers.DateTimeField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    account = serializers.IntegerField(source="account_id", allow_null=True)
    score = serializers.IntegerField()
    completeness = serializers.FloatField()
    custom = serializers.DictField()
    captured_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    TEXT = (
        "email", "first_name", "last_name", "title", "phone", "company", "country", "source", "channel",
        "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    )  # fmt: skip

    def to_representation(self, lead):
        # Built by hand: DRF's field-by-field path was ~40% of a 50-lead list call.
        # The declared fields above still drive the schema and `?fields=`; a test
        # proves the output equals DRF's own rendering.
        data = {"id": lead.id, "external_id": lead.external_id}
        for name in self.TEXT:
            data[name] = getattr(lead, name)
        data.update(
            stage=lead.stage.key,
            stage_entered_at=_iso(lead.stage_entered_at),
            owner=lead.owner_id,
            account=lead.account_id,
            score=lead.score,
            completeness=lead.completeness,
            custom={str(k): v for k, v in (lead.custom or {}).items()},
            captured_at=_iso(lead.captured_at),
            created_at=_iso(lead.created_at),
            updated_at=_iso(lead.updated_at),
        )
        data.update(self.extra_representation(lead))
        return {name: data[name] for name in self.fields} if self.trimmed else data

    def extra_representation(self, lead) -> dict:
        return {}


def _iso(value):
    """DRF DateTimeField's ISO 8601 output (current time zone, 'Z' for UTC)."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class UtmProblemOutput(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.ChoiceField(choices=["missing", "case", "not_allowed", "pattern"])
    message = serializers.CharField()


UTM_PROBLEMS_HELP = (
    "How the record's utm_source, utm_medium and utm_campaign break the organisation's UTM taxonomy "
    "(empty when they follow it, or when there are none). The record is stored all the same unless the "
    "taxonomy is enforced at ingest, which refuses it with a 400 instead."
)


def utm_problems(record, taxonomy) -> list[dict]:
    """The record's UTM problems under the taxonomy the view read for this request."""
    return [p.as_dict() for p in utm.ingest_problems(taxonomy, utm.ingest_values(record))]


class LeadCreatedOutput(LeadOutput):
    utm_problems = UtmProblemOutput(many=True, read_only=True, help_text=UTM_PROBLEMS_HELP)

    def extra_representation(self, lead) -> dict:
        return {"utm_problems": utm_problems(lead, self.context["utm_taxonomy"])}


class LeadInput(StrictSerializer):
    external_id = serializers.CharField(max_length=120, required=False, allow_null=True, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=60, required=False, allow_blank=True)
    company = serializers.CharField(max_length=255, required=False, allow_blank=True)
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "Use a two-letter ISO country code."},
    )
    source = serializers.CharField(max_length=120, required=False, allow_blank=True)
    utm_source = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=255, required=False, allow_blank=True)
    stage = serializers.SlugField(required=False, help_text="A lifecycle stage key, e.g. inquiry or mql.")
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member id.")
    account = serializers.IntegerField(required=False, allow_null=True, help_text="An account id.")
    score = serializers.IntegerField(required=False, min_value=-100000, max_value=100000)
    custom = serializers.DictField(required=False)
    captured_at = serializers.DateTimeField(required=False)


class StageChangeInput(StrictSerializer):
    stage = serializers.SlugField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
    at = serializers.DateTimeField(required=False, help_text="When it happened; defaults to now.")


class StageEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.EmailField(source="actor.email", allow_null=True, default=None)
    api_key = serializers.CharField(source="api_key_prefix")
    reason = serializers.CharField()
    origin = serializers.CharField()


class AccountOutput(SparseFieldsMixin, serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    domain = serializers.CharField()
    industry = serializers.CharField()
    employees = serializers.IntegerField(allow_null=True)
    annual_revenue = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    country = serializers.CharField()
    region = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    completeness = serializers.FloatField()
    custom = serializers.DictField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AccountInput(StrictSerializer):
    external_id = serializers.CharField(max_length=120, required=False, allow_null=True, allow_blank=True)
    name = serializers.CharField(max_length=255, required=False)
    domain = serializers.CharField(max_length=255, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=120, required=False, allow_blank=True)
    employees = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    annual_revenue = serializers.DecimalField(
        max_digits=16, decimal_places=2, required=False, allow_null=True
    )
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    region = serializers.CharField(max_length=60, required=False, allow_blank=True)
    owner = serializers.IntegerField(required=False, allow_null=True)
    custom = serializers.DictField(required=False)


class OpportunityOutput(SparseFieldsMixin, serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    account = serializers.IntegerField(source="account_id", allow_null=True)
    primary_contact = serializers.IntegerField(source="primary_contact_id", allow_null=True)
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    currency = serializers.CharField()
    stage = serializers.CharField()
    status = serializers.CharField()
    type = serializers.CharField()
    source = serializers.CharField()
    created_date = serializers.DateField()
    close_date = serializers.DateField(allow_null=True)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    loss_reason = serializers.CharField()
    custom = serializers.DictField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OpportunityInput(StrictSerializer):
    external_id = serializers.CharField(max_length=120, required=False, allow_null=True, allow_blank=True)
    name = serializers.CharField(max_length=255, required=False)
    account = serializers.IntegerField(required=False, allow_null=True)
    primary_contact = serializers.IntegerField(required=False, allow_null=True, help_text="A lead id.")
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, required=False, min_value=0)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, allow_blank=True)
    stage = serializers.CharField(max_length=60, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Opportunity.Status.choices, required=False)
    type = serializers.ChoiceField(choices=Opportunity.Type.choices, required=False)
    source = serializers.CharField(max_length=120, required=False, allow_blank=True)
    created_date = serializers.DateField(required=False)
    close_date = serializers.DateField(required=False, allow_null=True)
    owner = serializers.IntegerField(required=False, allow_null=True)
    loss_reason = serializers.CharField(max_length=200, required=False, allow_blank=True)
    custom = serializers.DictField(required=False)


class TouchpointOutput(SparseFieldsMixin, serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    lead = serializers.IntegerField(source="lead_id", allow_null=True)
    account = serializers.IntegerField(source="account_id", allow_null=True)
    channel = serializers.CharField()
    source = serializers.CharField()
    medium = serializers.CharField()
    utm_source = serializers.CharField()
    utm_medium = serializers.CharField()
    utm_campaign = serializers.CharField()
    utm_term = serializers.CharField()
    utm_content = serializers.CharField()
    campaign_ref = serializers.CharField()
    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class TouchpointCreatedOutput(TouchpointOutput):
    utm_problems = serializers.SerializerMethodField(help_text=UTM_PROBLEMS_HELP)

    @extend_schema_field(UtmProblemOutput(many=True))
    def get_utm_problems(self, touchpoint) -> list[dict]:
        return utm_problems(touchpoint, self.context["utm_taxonomy"])


class TouchpointInput(StrictSerializer):
    external_id = serializers.CharField(max_length=120, required=False, allow_null=True, allow_blank=True)
    lead = serializers.IntegerField(required=False, allow_null=True)
    email = serializers.EmailField(required=False, help_text="Find the lead by e-mail instead of id.")
    account = serializers.IntegerField(required=False, allow_null=True)
    channel = serializers.CharField(max_length=60, required=False, allow_blank=True)
    source = serializers.CharField(max_length=120, required=False, allow_blank=True)
    medium = serializers.CharField(max_length=120, required=False, allow_blank=True)
    utm_source = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=255, required=False, allow_blank=True)
    campaign_ref = serializers.CharField(max_length=255, required=False, allow_blank=True)
    type = serializers.CharField(max_length=40, required=False, allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False)


class CustomerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    arr = serializers.DecimalField(max_digits=16, decimal_places=2)
    start_date = serializers.DateField()
    churn_date = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()


class CustomerInput(StrictSerializer):
    account = serializers.IntegerField()
    arr = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0)
    start_date = serializers.DateField()
    churn_date = serializers.DateField(required=False, allow_null=True)


class BulkInput(StrictSerializer):
    items = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)
    match_on = serializers.ChoiceField(
        choices=["external_id", "email", "domain"], required=False, help_text="How to find existing records."
    )
