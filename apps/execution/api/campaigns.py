"""`/api/v1/campaigns/`, `/api/v1/utm-taxonomy/` and `/api/v1/utm/validate/`.

A campaign's `results` are `apps.execution.selectors.campaigns.campaign_results`,
the numbers its page shows (`?model=` picks the attribution model on the
detail route; without it, the organisation's default model credits them).
Moves go through `POST .../transition/`; QA through
`GET .../qa/` (the last results) and `POST .../qa/` (run the automatic checks,
or tick a manual one with `check` and `passed`). API keys act for no member,
so transitions they make have no actor: they record the key's prefix instead,
and the detail's `history` says "API key <prefix>…" for them.
"""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.errors import ServiceError
from apps.execution.models import Campaign, CampaignStatus, CampaignType, QaCheck, UtmTaxonomy
from apps.execution.selectors import campaigns as selectors
from apps.execution.services import campaign_qa, utm
from apps.execution.services import campaigns as services


class ResultsOutput(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="Inclusive; today in the organisation's time zone.")
    model = serializers.CharField(help_text="The attribution model crediting pipeline and revenue.")
    model_label = serializers.CharField()
    touches = serializers.IntegerField()
    leads = serializers.IntegerField()
    pipeline = serializers.FloatField()
    revenue = serializers.FloatField()
    cost = serializers.FloatField(help_text="Spend entries whose campaign_ref is the utm_campaign value.")
    roi = serializers.FloatField(allow_null=True, help_text="(revenue - cost) / cost * 100.")
    assignments = serializers.IntegerField()
    rejected = serializers.IntegerField()
    reject_rate = serializers.FloatField(allow_null=True, help_text="rejected / assignments * 100.")


class TransitionOutput(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.IntegerField(source="actor_id", allow_null=True, help_text="The member who moved it.")
    api_key = serializers.CharField(source="api_key_prefix", help_text="The API key's prefix, for API moves.")
    by = serializers.SerializerMethodField(help_text='The member\'s name, or "API key <prefix>…".')
    note = serializers.CharField()
    override_reason = serializers.CharField()
    failed_checks = serializers.ListField(child=serializers.CharField())

    def get_by(self, transition) -> str:
        return services.transition_by(transition)


class CampaignOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField()
    channel = serializers.CharField()
    brief = serializers.CharField()
    status = serializers.CharField()
    segment = serializers.IntegerField(source="segment_id", allow_null=True)
    offer = serializers.IntegerField(source="offer_id", allow_null=True)
    program = serializers.IntegerField(source="program_id", allow_null=True)
    requested_by = serializers.IntegerField(source="requested_by_id", allow_null=True)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    ops_owner = serializers.IntegerField(source="ops_owner_id", allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    start_date = serializers.DateField(allow_null=True)
    end_date = serializers.DateField(allow_null=True)
    planned_budget = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    utm_source = serializers.CharField()
    utm_medium = serializers.CharField()
    utm_campaign = serializers.CharField()
    landing_url = serializers.CharField()
    success_metric = serializers.CharField()
    success_target = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)
    expected_audience = serializers.JSONField()
    requested_at = serializers.DateTimeField(allow_null=True)
    live_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    allowed_moves = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField(help_text="Every move, oldest first; null in the list.")

    def get_allowed_moves(self, campaign) -> list[str]:
        return list(services.allowed_moves(campaign))

    @extend_schema_field(TransitionOutput(many=True, allow_null=True))
    def get_history(self, campaign) -> list | None:
        # Only on one campaign's routes (detail, transition), as the results: the list stays one query.
        if not self.context.get("with_results"):
            return None
        return TransitionOutput(
            services.campaign_history(org=self.context["org"], campaign=campaign), many=True
        ).data

    @extend_schema(responses=ResultsOutput)
    def get_results(self, campaign) -> dict | None:
        if not self.context.get("with_results"):
            return None
        found = selectors.campaign_results(
            org=self.context["org"],
            campaign=campaign,
            model=self.context.get("model"),
        )
        return ResultsOutput(found.as_dict()).data if found else None


class CampaignInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=CampaignType.choices)
    channel = serializers.CharField(max_length=60, required=False, allow_blank=True)
    brief = serializers.CharField(required=False, allow_blank=True)
    segment = serializers.IntegerField(required=False, allow_null=True)
    offer = serializers.IntegerField(required=False, allow_null=True)
    program = serializers.IntegerField(required=False, allow_null=True)
    owner = serializers.IntegerField(required=False, allow_null=True)
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)
    planned_budget = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True
    )
    utm_source = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=255, required=False, allow_blank=True)
    landing_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    success_metric = serializers.CharField(max_length=60, required=False, allow_blank=True)
    success_target = serializers.DecimalField(
        max_digits=18, decimal_places=4, required=False, allow_null=True
    )
    expected_audience = serializers.JSONField(required=False)


class TransitionInput(StrictSerializer):
    to_status = serializers.ChoiceField(choices=CampaignStatus.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)
    override_reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
    ops_owner = serializers.IntegerField(required=False, allow_null=True)
    due_date = serializers.DateField(required=False, allow_null=True)


class QaResultOutput(serializers.Serializer):
    check = serializers.IntegerField()
    kind = serializers.CharField()
    label = serializers.CharField()
    required = serializers.BooleanField()
    passed = serializers.BooleanField(
        allow_null=True, help_text="null: never run (or a manual check not ticked)."
    )
    detail = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)


class QaInput(StrictSerializer):
    check = serializers.IntegerField(required=False, help_text="A manual check to tick; omit to run QA.")
    passed = serializers.BooleanField(required=False)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class FilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)
    type = serializers.ChoiceField(choices=CampaignType.choices, required=False)
    owner = serializers.IntegerField(required=False)
    program = serializers.IntegerField(required=False)


def _qa_rows(pairs) -> list[dict]:
    return [
        {
            "check": check.pk,
            "kind": check.kind,
            "label": check.label,
            "required": check.required,
            "passed": result.passed if result and result.pk else None,
            "detail": result.detail if result else "",
            "checked_at": result.checked_at if result else None,
        }
        for check, result in pairs
    ]


class CampaignViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Campaigns with their workflow, QA and results (on the detail route)."""

    queryset = Campaign.objects.all()
    serializer_class = CampaignOutput

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self, "action", None) != "list":
            context["with_results"] = True
            context["model"] = self.request.query_params.get("model")
        return context

    @extend_schema(parameters=[FilterInput])
    def list(self, request):
        data = self.query_filters(FilterInput)
        filters = selectors.Filters(**data)
        page = self.paginate_queryset(selectors.campaigns_for(org=self.org, filters=filters))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=CampaignInput, responses={201: CampaignOutput})
    def create(self, request):
        data = CampaignInput(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = services.campaign_request(
            org=self.org, requested_by=None, api_key=self.request.auth, **data.validated_data
        )
        return Response(self.get_serializer(campaign).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CampaignInput, responses=CampaignOutput)
    def partial_update(self, request, pk=None):
        campaign = self.get_object()
        data = CampaignInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.campaign_update(org=self.org, campaign=campaign, **data.validated_data)
        return Response(self.get_serializer(campaign).data)

    def perform_destroy(self, campaign):
        services.campaign_delete(org=self.org, campaign=campaign)

    @extend_schema(request=TransitionInput, responses=CampaignOutput, operation_id="campaigns_transition")
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        campaign = self.get_object()
        data = TransitionInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.campaign_transition(
            org=self.org, campaign=campaign, actor=None, api_key=self.request.auth, **data.validated_data
        )
        campaign.refresh_from_db()
        return Response(self.get_serializer(campaign).data)

    @extend_schema(responses=QaResultOutput(many=True), operation_id="campaigns_qa_results", methods=["GET"])
    @extend_schema(
        request=QaInput,
        responses=QaResultOutput(many=True),
        operation_id="campaigns_qa_run",
        methods=["POST"],
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def qa(self, request, pk=None):
        campaign = self.get_object()
        if request.method == "POST":
            data = QaInput(data=request.data)
            data.is_valid(raise_exception=True)
            check_id = data.validated_data.get("check")
            if check_id is None:
                campaign_qa.qa_run(org=self.org, campaign=campaign)
            else:
                check = QaCheck.objects.for_org(self.org).filter(pk=check_id).first()
                if check is None:
                    raise ServiceError("No such check here.", field="check")
                campaign_qa.qa_tick(
                    org=self.org,
                    campaign=campaign,
                    check=check,
                    actor=None,
                    passed=data.validated_data.get("passed", True),
                    note=data.validated_data.get("note", ""),
                )
        return Response(_qa_rows(campaign_qa.qa_results(org=self.org, campaign=campaign)))


class TaxonomySerializer(StrictSerializer):
    allowed_sources = serializers.ListField(child=serializers.CharField(max_length=255), max_length=100)
    allowed_mediums = serializers.ListField(child=serializers.CharField(max_length=255), max_length=100)
    campaign_pattern = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    campaign_pattern_help = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default=""
    )
    lowercase = serializers.BooleanField(required=False, default=True)
    enforce_at_ingest = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Refuse leads and touchpoints whose UTM values break the conventions (API and CSV "
        "import) instead of storing them and reporting their utm_problems.",
    )


class UtmTaxonomyViewSet(OrgScopedViewSet):
    """The organisation's UTM conventions (one object): read it, or replace it with PUT."""

    queryset = UtmTaxonomy.objects.all()
    serializer_class = TaxonomySerializer
    pagination_class = None

    @extend_schema(responses=TaxonomySerializer, operation_id="utm_taxonomy_retrieve")
    def current(self, request):
        return Response(TaxonomySerializer(utm.taxonomy_for(self.org)).data)

    @extend_schema(
        request=TaxonomySerializer, responses=TaxonomySerializer, operation_id="utm_taxonomy_update"
    )
    def replace(self, request):
        data = TaxonomySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        taxonomy = utm.taxonomy_update(org=self.org, **data.validated_data)
        return Response(TaxonomySerializer(taxonomy).data)


class ValidateInput(StrictSerializer):
    url = serializers.CharField(max_length=2000, required=False, help_text="A tagged URL to check.")
    utm_source = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ProblemOutput(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.ChoiceField(choices=["missing", "case", "not_allowed", "pattern"])
    message = serializers.CharField()


class ValidateOutput(serializers.Serializer):
    valid = serializers.BooleanField()
    values = serializers.DictField(child=serializers.CharField())
    problems = ProblemOutput(many=True)


class UtmValidateViewSet(OrgScopedViewSet):
    """Check a URL's UTM values, or the values themselves, against the taxonomy (GET or POST)."""

    queryset = UtmTaxonomy.objects.all()
    serializer_class = ValidateInput
    pagination_class = None
    # Validation writes nothing: a read key may POST too.
    required_scopes = {"POST": "read"}

    def _validate(self, values):
        data = ValidateInput(data=values)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        found = (
            utm.values_from_url(given["url"])
            if given.get("url")
            else {n: given.get(n, "") for n in utm.FIELDS}
        )
        problems = utm.validate(utm.taxonomy_for(self.org), found)
        return Response({"valid": not problems, "values": found, "problems": [p.as_dict() for p in problems]})

    @extend_schema(parameters=[ValidateInput], responses=ValidateOutput, operation_id="utm_validate_get")
    def check_query(self, request):
        return self._validate(request.query_params.dict())

    @extend_schema(request=ValidateInput, responses=ValidateOutput, operation_id="utm_validate_post")
    def check_body(self, request):
        return self._validate(request.data)
