from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.integrations import services
from apps.integrations.events import EVENT_CHOICES
from apps.integrations.models import WebhookDelivery, WebhookEndpoint


class EndpointOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    consecutive_failures = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class EndpointCreated(EndpointOutput):
    secret = serializers.SerializerMethodField()

    def get_secret(self, endpoint) -> str:
        return endpoint.secrets.first().secret


class EndpointInput(StrictSerializer):
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES), required=False)
    is_active = serializers.BooleanField(required=False)


class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Where revops sends signed event notifications."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = EndpointOutput

    @extend_schema(request=EndpointInput, responses={201: EndpointCreated})
    def create(self, request):
        data = EndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("is_active", None)
        endpoint = services.webhook_endpoint_create(org=self.org, **fields)
        return Response(EndpointCreated(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=EndpointInput, responses=EndpointOutput)
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = EndpointInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.webhook_endpoint_update(org=self.org, endpoint=endpoint, **data.validated_data)
        return Response(EndpointOutput(endpoint).data)

    def perform_destroy(self, endpoint):
        services.webhook_endpoint_delete(org=self.org, endpoint=endpoint)


class DeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.IntegerField(source="endpoint_id")
    event_id = serializers.CharField()
    event_type = serializers.CharField(source="event.event_type")
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """The delivery log; `redeliver` sends one again with the same webhook-id."""

    queryset = WebhookDelivery.objects.select_related("event")
    serializer_class = DeliveryOutput

    def filter_queryset_for(self, queryset):
        params = self.request.query_params
        if params.get("endpoint"):
            queryset = (
                queryset.filter(endpoint_id=params["endpoint"])
                if params["endpoint"].isdigit()
                else queryset.none()
            )
        if params.get("status"):
            queryset = queryset.filter(status=params["status"])
        return queryset

    @extend_schema(request=None, responses={202: DeliveryOutput})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = services.webhook_redeliver(org=self.org, delivery=self.get_object())
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)
