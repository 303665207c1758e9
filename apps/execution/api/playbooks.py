"""`/api/v1/playbooks/`: runbooks in Markdown for a lifecycle stage (its key) or a campaign type."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.errors import ServiceError
from apps.execution.models import CampaignType, Playbook
from apps.execution.services import playbooks as services
from apps.records.models import LifecycleStage


class PlaybookOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField(help_text="Markdown.")
    stage = serializers.CharField(source="stage.key", allow_null=True, default=None)
    campaign_type = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PlaybookInput(StrictSerializer):
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=services.MAX_BODY)
    stage = serializers.CharField(required=False, allow_blank=True, allow_null=True, help_text="A stage key.")
    # Checked by the service; a plain string keeps the campaigns API's type enum the only one in the schema.
    campaign_type = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text=f"One of: {', '.join(CampaignType.values)}.",
    )


class PlaybookViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Playbooks, by title."""

    queryset = Playbook.objects.select_related("stage")
    serializer_class = PlaybookOutput

    def _fields(self, data: dict) -> dict:
        if "stage" in data:
            key = data["stage"]
            stage = LifecycleStage.objects.for_org(self.org).filter(key=key).first() if key else None
            if key and stage is None:
                raise ServiceError(f"There is no stage {key!r}.", field="stage")
            data["stage"] = stage
        return data

    @extend_schema(request=PlaybookInput, responses={201: PlaybookOutput}, operation_id="playbooks_create")
    def create(self, request):
        data = PlaybookInput(data=request.data)
        data.is_valid(raise_exception=True)
        playbook = services.playbook_create(org=self.org, **self._fields(dict(data.validated_data)))
        return Response(self.get_serializer(playbook).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PlaybookInput, responses=PlaybookOutput, operation_id="playbooks_partial_update")
    def partial_update(self, request, pk=None):
        playbook = self.get_object()
        data = PlaybookInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.playbook_update(org=self.org, playbook=playbook, **self._fields(dict(data.validated_data)))
        return Response(self.get_serializer(playbook).data)

    def perform_destroy(self, playbook):
        services.playbook_delete(org=self.org, playbook=playbook)
