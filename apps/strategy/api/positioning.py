"""`/api/v1/positioning/` (one per segment) and `/api/v1/offers/`: what we say and offer to a segment.

Both carry `version`, which counts changes to their content; a write that
changes nothing keeps it. Switching an offer off (`active: false`) keeps its
version too. Errors name the field.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.strategy.models import Offer, OfferType, Positioning
from apps.strategy.services import positioning as services

TYPE_ERROR = f"“{{input}}” is not an offer type; use one of: {', '.join(OfferType.values)}."


class PositioningOutput(serializers.Serializer):
    id = serializers.IntegerField()
    segment = serializers.IntegerField(source="segment_id")
    value_propositions = serializers.ListField(child=serializers.CharField())
    messaging_pillars = serializers.ListField(child=serializers.CharField())
    proof_points = serializers.ListField(child=serializers.CharField())
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _texts():
    return serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=services.MAX_ITEM_CHARS),
        required=False,
        max_length=services.MAX_ITEMS,
    )


class PositioningInput(StrictSerializer):
    segment = serializers.IntegerField(help_text="The segment's id; one positioning per segment.")
    value_propositions = _texts()
    messaging_pillars = _texts()
    proof_points = _texts()
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member's id.")


class PositioningUpdateInput(PositioningInput):
    segment = None  # a positioning belongs to its segment for good


class PositioningFilterInput(serializers.Serializer):
    segment = serializers.IntegerField(required=False)


class PositioningViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Positioning per segment: value propositions, messaging pillars and proof points, versioned.

    POST for a segment that already has one changes it (a new version) and answers 200.
    """

    queryset = Positioning.objects.order_by("segment__name", "id")
    serializer_class = PositioningOutput

    @extend_schema(parameters=[PositioningFilterInput])
    def list(self, request):
        self.refuse_unknown_filters(PositioningFilterInput().fields)
        params = PositioningFilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = self.get_queryset().filter(**{f"{k}_id": v for k, v in params.validated_data.items()})
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=PositioningInput, responses={201: PositioningOutput, 200: PositioningOutput})
    def create(self, request):
        data = PositioningInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        existed = Positioning.objects.for_org(self.org).filter(segment_id=fields["segment"]).exists()
        saved = services.positioning_save(org=self.org, **fields)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(self.get_serializer(saved).data, status=code)

    @extend_schema(request=PositioningUpdateInput, responses=PositioningOutput)
    def partial_update(self, request, pk=None):
        positioning = self.get_object()
        data = PositioningUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = services.positioning_save(org=self.org, segment=positioning.segment_id, **data.validated_data)
        return Response(self.get_serializer(saved).data)

    def perform_destroy(self, positioning):
        services.positioning_delete(org=self.org, positioning=positioning)


class OfferOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField()
    segment = serializers.IntegerField(source="segment_id", allow_null=True)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    active = serializers.BooleanField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OfferInput(StrictSerializer):
    name = serializers.CharField(max_length=120)
    type = serializers.ChoiceField(choices=OfferType.choices, error_messages={"invalid_choice": TYPE_ERROR})
    description = serializers.CharField(required=False, allow_blank=True, max_length=services.MAX_DESCRIPTION)
    segment = serializers.IntegerField(required=False, allow_null=True, help_text="Omit for every segment.")
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member's id.")
    active = serializers.BooleanField(required=False)


class OfferFilterInput(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=OfferType.choices, required=False, error_messages={"invalid_choice": TYPE_ERROR}
    )
    segment = serializers.IntegerField(required=False)
    active = serializers.BooleanField(required=False)


class OfferViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Offers (demo, trial, assessment, content, event), for one segment or every one, versioned."""

    queryset = Offer.objects.all()
    serializer_class = OfferOutput

    @extend_schema(parameters=[OfferFilterInput])
    def list(self, request):
        self.refuse_unknown_filters(OfferFilterInput().fields)
        params = OfferFilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = dict(params.validated_data)
        if "segment" in filters:
            filters["segment_id"] = filters.pop("segment")
        offers = self.get_queryset().filter(**filters).order_by("-active", "name", "id")
        page = self.paginate_queryset(offers)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=OfferInput, responses={201: OfferOutput})
    def create(self, request):
        data = OfferInput(data=request.data)
        data.is_valid(raise_exception=True)
        offer = services.offer_create(org=self.org, **data.validated_data)
        return Response(self.get_serializer(offer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OfferInput, responses=OfferOutput)
    def partial_update(self, request, pk=None):
        offer = self.get_object()
        data = OfferInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.offer_update(org=self.org, offer=offer, **data.validated_data)
        return Response(self.get_serializer(offer).data)

    def perform_destroy(self, offer):
        services.offer_delete(org=self.org, offer=offer)
