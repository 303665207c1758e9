"""`/api/v1/kpi-tree/` (the tree with every status) and `/api/v1/kpi-nodes/` (nodes, targets, values).

    GET    /api/v1/kpi-tree/                      the tree, nested, as the page shows it
    GET    /api/v1/kpi-nodes/                     nodes, flat (parent ids), with their stored status
    POST   /api/v1/kpi-nodes/                     create; PATCH .../<id>/ updates or moves (parent, position)
    DELETE /api/v1/kpi-nodes/<id>/                its children move up to its parent
    GET    /api/v1/kpi-nodes/<id>/targets/        the node's targets
    POST   /api/v1/kpi-nodes/<id>/targets/        {"period_start", "value"}: set one (null value: remove it)
    POST   /api/v1/kpi-nodes/<id>/values/         {"period_start", "value"}: a value entered by hand

The tree's numbers (actual, target, expected, status, series) are computed
when asked, exactly as on the page and in the CSV; a node's `status` in
/kpi-nodes/ is the one stored by the hourly refresh that alerts owners.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.strategy.models import KpiCombine, KpiKind, KpiNode, KpiStatus, KpiTarget
from apps.strategy.models.kpi import KpiDirection, KpiGrain
from apps.strategy.services import kpi as services

# A plain string rather than an enum: "kind" names other choice sets in the schema already.
KIND_HELP = f"One of: {', '.join(KpiKind.values)}."


class PointOutput(serializers.Serializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    actual = serializers.FloatField(allow_null=True, help_text="To date for the current period.")
    target = serializers.FloatField(allow_null=True)


class TreeNodeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    path = serializers.CharField(help_text="Names from the root, separated by “ / ”.")
    parent = serializers.IntegerField(allow_null=True)
    metric = serializers.CharField(help_text="A catalogue key; empty for values entered by hand.")
    metric_params = serializers.DictField(child=serializers.CharField())
    combine = serializers.ChoiceField(choices=KpiCombine.choices)
    kind = serializers.CharField(help_text=KIND_HELP)
    direction = serializers.ChoiceField(choices=KpiDirection.choices)
    grain = serializers.ChoiceField(choices=KpiGrain.choices)
    unit = serializers.CharField(help_text="The metric's unit; “number” for values entered by hand.")
    owner = serializers.IntegerField(allow_null=True, help_text="Null: no (active) owner, flagged.")
    owner_name = serializers.CharField()
    period_start = serializers.DateField(help_text="The current month or fiscal quarter.")
    period_end = serializers.DateField()
    elapsed_share = serializers.FloatField(
        help_text="The share of the period's days elapsed, today included."
    )
    actual = serializers.FloatField(allow_null=True)
    target = serializers.FloatField(allow_null=True)
    expected = serializers.FloatField(allow_null=True, help_text="The target paced for counts and amounts.")
    pace_percent = serializers.FloatField(allow_null=True, help_text="Above 100 is better, either direction.")
    trend = serializers.ChoiceField(choices=["rising", "falling", "steady"], allow_null=True)
    status = serializers.ChoiceField(choices=KpiStatus.choices)
    status_reason = serializers.CharField()
    series = PointOutput(many=True, help_text="The last six periods, oldest first.")
    children = serializers.ListField(child=serializers.DictField(), help_text="Nodes of the same shape.")


def tree_node_as_dict(state: services.NodeState) -> dict:
    return {**state.as_dict(), "children": [tree_node_as_dict(child) for child in state.children]}


class KpiTreeViewSet(OrgScopedViewSet):
    """The KPI tree, nested, with every node's status for the current period."""

    queryset = KpiNode.objects.all()

    @extend_schema(
        operation_id="kpi_tree_retrieve",
        responses=inline_serializer(
            "KpiTree",
            {
                "today": serializers.DateField(),
                "counts": serializers.DictField(child=serializers.IntegerField()),
                "nodes": TreeNodeOutput(many=True),
            },
        ),
    )
    def tree(self, request):
        tree = services.kpi_tree(org=self.org)
        return Response(
            {
                "today": tree.today,
                "counts": tree.counts(),
                "nodes": [tree_node_as_dict(s) for s in tree.roots],
            }
        )


class NodeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    position = serializers.IntegerField()
    metric = serializers.CharField()
    metric_params = serializers.DictField(child=serializers.CharField())
    combine = serializers.CharField()
    kind = serializers.CharField()
    direction = serializers.CharField()
    grain = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    status = serializers.CharField(help_text="As stored by the last refresh.")
    status_changed_at = serializers.DateTimeField(allow_null=True)
    status_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NodeInput(StrictSerializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    parent = serializers.IntegerField(required=False, allow_null=True, help_text="A node id; null: a root.")
    position = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    metric = serializers.CharField(required=False, allow_blank=True, help_text="A catalogue key, or empty.")
    metric_params = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    combine = serializers.ChoiceField(choices=KpiCombine.choices, required=False)
    kind = serializers.CharField(required=False, help_text=KIND_HELP)
    direction = serializers.ChoiceField(choices=KpiDirection.choices, required=False)
    grain = serializers.ChoiceField(choices=KpiGrain.choices, required=False)
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member id; null: none.")


class PeriodInput(StrictSerializer):
    period_start = serializers.DateField(help_text="The first day of a month or fiscal quarter.")
    value = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)


class TargetOutput(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.DecimalField(max_digits=18, decimal_places=4)


class KpiNodeViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Nodes of the KPI tree: bound to a catalogue metric or entered by hand, with targets per period."""

    queryset = KpiNode.objects.order_by("parent_id", "position", "id")
    serializer_class = NodeOutput

    @extend_schema(request=NodeInput, responses={201: NodeOutput})
    def create(self, request):
        data = NodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        node = services.kpi_node_create(org=self.org, **data.validated_data)
        return Response(self.get_serializer(node).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=NodeInput, responses=NodeOutput)
    def partial_update(self, request, pk=None):
        node = self.get_object()
        data = NodeInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.kpi_node_update(org=self.org, node=node, **data.validated_data)
        return Response(self.get_serializer(node).data)

    def perform_destroy(self, node):
        services.kpi_node_delete(org=self.org, node=node)

    @extend_schema(methods=["GET"], operation_id="kpi_node_targets_list", responses=TargetOutput(many=True))
    @extend_schema(
        methods=["POST"],
        operation_id="kpi_node_targets_set",
        request=PeriodInput,
        responses={200: TargetOutput(many=True)},
    )
    @action(detail=True, methods=["get", "post"], url_path="targets", url_name="targets")
    def targets(self, request, pk=None):
        node = self.get_object()
        if request.method == "POST":
            data = PeriodInput(data=request.data)
            data.is_valid(raise_exception=True)
            period, value = data.validated_data["period_start"], data.validated_data["value"]
            if value is None:
                services.kpi_target_delete(org=self.org, node=node, period_start=period)
            else:
                services.kpi_target_set(org=self.org, node=node, period_start=period, value=value)
        rows = KpiTarget.objects.for_org(self.org).filter(node=node).order_by("period_start")
        return Response(TargetOutput(rows, many=True).data)

    @extend_schema(operation_id="kpi_node_values_set", request=PeriodInput, responses={201: TargetOutput})
    @action(detail=True, methods=["post"], url_path="values", url_name="values")
    def values(self, request, pk=None):
        node = self.get_object()
        data = PeriodInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.kpi_value_set(org=self.org, node=node, **data.validated_data)
        return Response(TargetOutput(entry).data, status=status.HTTP_201_CREATED)
