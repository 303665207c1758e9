"""`/api/v1/segments/`: segments and the ICP, their members and their comparison with everyone else.

Rules are [{"name", "conditions": [{"field", "op", "value"}], "points"}]; an
invalid rule is a 400 naming its place, e.g. `rules[1].conditions[0].field`.
Saving recomputes the segment's memberships. `members/` lists the members
(cursor-paginated, newest membership first); `comparison/` gives the numbers
the segment page shows (see apps.strategy.segments.comparison).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.services import active_member
from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.strategy.models import Segment, SegmentMembership, SegmentObject
from apps.strategy.segments import comparison
from apps.strategy.services import segments as services


class SegmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    object_type = serializers.ChoiceField(choices=SegmentObject.choices)
    is_icp = serializers.BooleanField()
    rules = serializers.JSONField(help_text='[{"name", "conditions": [{"field", "op", "value"}], "points"}]')
    threshold = serializers.IntegerField(help_text="A record is a member when its fit score reaches this.")
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    member_count = serializers.IntegerField(help_text="Members found by the last full recompute.")
    recomputed_at = serializers.DateTimeField(allow_null=True, help_text="When the last full recompute ran.")
    recompute_pending = serializers.BooleanField(
        help_text="Saved since the last full recompute: a worker is recomputing member_count."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SegmentInput(StrictSerializer):
    key = serializers.SlugField(max_length=60)
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    object_type = serializers.ChoiceField(choices=SegmentObject.choices, required=False)
    is_icp = serializers.BooleanField(required=False)
    rules = serializers.JSONField()
    threshold = serializers.IntegerField(min_value=1, required=False)
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member id.")


class SegmentMemberOutput(serializers.Serializer):
    lead = serializers.IntegerField(source="lead_id", allow_null=True)
    account = serializers.IntegerField(source="account_id", allow_null=True)
    score = serializers.IntegerField(help_text="The fit score.")
    since = serializers.DateTimeField()


class SegmentGroupOutput(serializers.Serializer):
    leads = serializers.IntegerField()
    mql = serializers.IntegerField(help_text="Leads that ever entered MQL.")
    sql = serializers.IntegerField()
    opportunity = serializers.IntegerField()
    customer = serializers.IntegerField(help_text="Leads that ever entered Customer (won).")
    median_days_to_opportunity = serializers.FloatField(allow_null=True)
    rates = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="reached ÷ leads, %"
    )


class SegmentComparisonOutput(serializers.Serializer):
    members = SegmentGroupOutput()
    others = SegmentGroupOutput()


class SegmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Segments and the ICP: rules with points, a threshold, members and their conversion."""

    queryset = Segment.objects.all()
    serializer_class = SegmentOutput

    def _values(self, data: dict) -> dict:
        if "owner" in data:
            data["owner"] = active_member(self.org, data["owner"])
        return data

    @extend_schema(request=SegmentInput, responses={201: SegmentOutput})
    def create(self, request):
        data = SegmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = self._values(dict(data.validated_data))
        segment = services.segment_create(org=self.org, recompute=False, **values)
        segment.refresh_from_db()
        return Response(self.get_serializer(segment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SegmentInput, responses=SegmentOutput)
    def partial_update(self, request, pk=None):
        segment = self.get_object()
        data = SegmentInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = self._values(dict(data.validated_data))
        services.segment_update(org=self.org, segment=segment, recompute=False, **values)
        segment.refresh_from_db()
        return Response(self.get_serializer(segment).data)

    def perform_destroy(self, segment):
        services.segment_delete(org=self.org, segment=segment)

    @extend_schema(responses=SegmentMemberOutput(many=True), operation_id="segments_members_list")
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        segment = self.get_object()
        memberships = SegmentMembership.objects.for_org(self.org).filter(segment=segment)
        page = self.paginate_queryset(memberships)
        return self.get_paginated_response(SegmentMemberOutput(page, many=True).data)

    @extend_schema(responses=SegmentComparisonOutput, operation_id="segments_comparison_retrieve")
    @action(detail=True, methods=["get"])
    def comparison(self, request, pk=None):
        segment = self.get_object()
        return Response(comparison.compare(org=self.org, segment=segment).as_dict())
