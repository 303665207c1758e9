"""`/api/v1/journeys/`, their enrolments and events, and `/api/v1/email-templates/`.

Steps, entry and exit goals are the JSON the journey pages edit (see the README);
errors name the field (`steps[2].wait.days`). `POST /journeys/{id}/enroll/`
enrols one lead; `POST /journeys/events/` enrols a lead in every running
journey whose entry is that event name.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.models import Membership
from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.errors import ServiceError
from apps.execution.journeys import entry, services
from apps.execution.models import EmailTemplate, Enrollment, Journey, JourneyMotion, ReentryPolicy
from apps.records.models import Lead


class JourneyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    motion = serializers.ChoiceField(choices=JourneyMotion.choices)
    description = serializers.CharField()
    status = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    entry = serializers.JSONField()
    exit_goals = serializers.JSONField()
    reentry = serializers.ChoiceField(choices=ReentryPolicy.choices)
    reentry_days = serializers.IntegerField(allow_null=True)
    suppress_customers = serializers.BooleanField()
    draft_steps = serializers.JSONField()
    version = serializers.IntegerField(source="current_version.number", allow_null=True, default=None)
    steps = serializers.JSONField(source="current_version.steps", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class JourneyInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    motion = serializers.ChoiceField(choices=JourneyMotion.choices)
    description = serializers.CharField(required=False, allow_blank=True)
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member id.")
    entry = serializers.JSONField(required=False, help_text='{"type": "stage_reached", "stage": "mql"}')
    exit_goals = serializers.JSONField(required=False, help_text='[{"type": "replied"}]')
    reentry = serializers.ChoiceField(choices=ReentryPolicy.choices, required=False)
    reentry_days = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    suppress_customers = serializers.BooleanField(required=False)
    draft_steps = serializers.JSONField(
        required=False, help_text='[{"id": "s1", "type": "wait", "wait": {"days": 2}}]'
    )


class EnrollInput(StrictSerializer):
    lead = serializers.IntegerField()


class EventInput(StrictSerializer):
    name = serializers.CharField(max_length=60)
    lead = serializers.IntegerField()

    def validate_lead(self, value):
        if not Lead.objects.for_org(self.context["org"]).filter(pk=value).exists():
            raise serializers.ValidationError("No such lead in this organisation.")
        return value


class EnrollmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    journey = serializers.IntegerField(source="journey_id")
    lead = serializers.IntegerField(source="lead_id")
    version = serializers.IntegerField(source="version.number")
    status = serializers.CharField()
    step_id = serializers.CharField()
    next_run_at = serializers.DateTimeField(allow_null=True)
    entered_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    exit_reason = serializers.CharField()
    source = serializers.CharField()


def _lead(org, lead_id: int) -> Lead:
    lead = Lead.objects.for_org(org).filter(pk=lead_id).first()
    if lead is None:
        raise ServiceError("No such lead in this organisation.", field="lead")
    return lead


def _owner(org, data: dict) -> dict:
    if data.get("owner") is not None:
        member = Membership.objects.for_org(org).filter(pk=data["owner"]).first()
        if member is None:
            raise ServiceError("No such member in this organisation.", field="owner")
        data["owner"] = member
    return data


class JourneyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Journeys: steps in a draft, published as versions; publish, pause, resume and enrol."""

    queryset = Journey.objects.select_related("current_version")
    serializer_class = JourneyOutput

    @extend_schema(request=JourneyInput, responses={201: JourneyOutput})
    def create(self, request):
        data = JourneyInput(data=request.data)
        data.is_valid(raise_exception=True)
        journey = services.journey_create(org=self.org, **_owner(self.org, dict(data.validated_data)))
        return Response(self.get_serializer(journey).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=JourneyInput, responses=JourneyOutput)
    def partial_update(self, request, pk=None):
        journey = self.get_object()
        data = JourneyInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.journey_update(org=self.org, journey=journey, **_owner(self.org, dict(data.validated_data)))
        return Response(self.get_serializer(journey).data)

    def perform_destroy(self, journey):
        services.journey_delete(org=self.org, journey=journey)

    @extend_schema(request=None, responses=JourneyOutput, operation_id="journeys_publish")
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        journey = self.get_object()
        services.journey_publish(org=self.org, journey=journey)
        return Response(self.get_serializer(journey).data)

    @extend_schema(request=None, responses=JourneyOutput, operation_id="journeys_pause")
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        journey = self.get_object()
        services.journey_pause(org=self.org, journey=journey)
        return Response(self.get_serializer(journey).data)

    @extend_schema(request=None, responses=JourneyOutput, operation_id="journeys_resume")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        journey = self.get_object()
        services.journey_resume(org=self.org, journey=journey)
        return Response(self.get_serializer(journey).data)

    @extend_schema(request=None, responses=JourneyOutput, operation_id="journeys_archive")
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        """Retire the journey: nobody enters it again; running enrolments exit (reason "archived")."""
        journey = self.get_object()
        services.journey_archive(org=self.org, journey=journey)
        return Response(self.get_serializer(journey).data)

    @extend_schema(request=EnrollInput, responses={201: EnrollmentOutput}, operation_id="journeys_enroll")
    @action(detail=True, methods=["post"])
    def enroll(self, request, pk=None):
        journey = self.get_object()
        data = EnrollInput(data=request.data)
        data.is_valid(raise_exception=True)
        lead = _lead(self.org, data.validated_data["lead"])
        enrollment = entry.enroll(org=self.org, journey=journey, lead=lead, source="api")
        return Response(EnrollmentOutput(enrollment).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=EnrollmentOutput(many=True), operation_id="journeys_enrollments_list")
    @action(detail=True, methods=["get"])
    def enrollments(self, request, pk=None):
        journey = self.get_object()
        rows = (
            Enrollment.objects.for_org(self.org)
            .filter(journey=journey)
            .select_related("version")
            .order_by("-id")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(EnrollmentOutput(page, many=True).data)

    @extend_schema(
        request=EventInput, responses=EnrollmentOutput(many=True), operation_id="journeys_events_create"
    )
    @action(detail=False, methods=["post"])
    def events(self, request):
        data = EventInput(data=request.data, context={"org": self.org})
        data.is_valid(raise_exception=True)
        lead = _lead(self.org, data.validated_data["lead"])
        made = entry.enroll_event(org=self.org, name=data.validated_data["name"], lead=lead)
        return Response(EnrollmentOutput(made, many=True).data)


class EmailTemplateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    from_email = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EmailTemplateInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    subject = serializers.CharField(max_length=300, help_text="Merge fields such as {{ first_name }}.")
    body = serializers.CharField(help_text="Plain text with merge fields; an unsubscribe link is appended.")
    from_email = serializers.CharField(max_length=254, required=False, allow_blank=True)


class EmailTemplateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """E-mail templates for journey e-mail steps."""

    queryset = EmailTemplate.objects.all()
    serializer_class = EmailTemplateOutput

    @extend_schema(request=EmailTemplateInput, responses={201: EmailTemplateOutput})
    def create(self, request):
        data = EmailTemplateInput(data=request.data)
        data.is_valid(raise_exception=True)
        template = services.email_template_create(org=self.org, **data.validated_data)
        return Response(self.get_serializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=EmailTemplateInput, responses=EmailTemplateOutput)
    def partial_update(self, request, pk=None):
        template = self.get_object()
        data = EmailTemplateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.email_template_update(org=self.org, template=template, **data.validated_data)
        return Response(self.get_serializer(template).data)

    def perform_destroy(self, template):
        services.email_template_delete(org=self.org, template=template)
