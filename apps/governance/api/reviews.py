"""`/api/v1/reviews/` and `/api/v1/action-items/`: operating reviews, their decisions and action items.

GET/POST  /api/v1/reviews/                      list (filters kind, status) / plan a review
GET       /api/v1/reviews/{id}/                 one review with its agenda, snapshot, decisions, items
POST      /api/v1/reviews/{id}/hold/            hold it: freeze the snapshot, send the digest
GET/POST  /api/v1/reviews/{id}/decisions/       its decisions / record one
GET/POST  /api/v1/action-items/                 list (filters owner, status, overdue, review) / assign one
GET/PATCH /api/v1/action-items/{id}/            one item / change its status
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.governance.models import ActionItem, ActionStatus, OperatingReview, ReviewKind
from apps.governance.services import reviews as services


class AgendaItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    source = serializers.CharField()
    key = serializers.CharField(
        help_text="A stable fingerprint of the issue, shared by every review raising it."
    )
    title = serializers.CharField()
    detail = serializers.CharField()
    url = serializers.CharField()


class ReviewDecisionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    review = serializers.IntegerField(source="review_id")
    agenda_item = serializers.IntegerField(source="agenda_item_id", allow_null=True)
    text = serializers.CharField()
    rationale = serializers.CharField()
    decided_by = serializers.IntegerField(source="decided_by_id", allow_null=True)
    created_at = serializers.DateTimeField()


class ActionItemOutput(serializers.Serializer):
    """Built from services.action_rows, the function the page and the CSV also read."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    owner = serializers.IntegerField(allow_null=True)
    owner_name = serializers.CharField()
    due = serializers.DateField(allow_null=True)
    status = serializers.CharField()
    overdue = serializers.BooleanField(help_text="Open and past its due date.")
    completed_at = serializers.DateTimeField(allow_null=True)
    review = serializers.IntegerField()
    decision = serializers.IntegerField(allow_null=True)
    subject_type = serializers.CharField(allow_null=True)
    subject_id = serializers.IntegerField(allow_null=True)
    subject = serializers.CharField()


def _action_data(org, items) -> list[dict]:
    return ActionItemOutput(services.action_rows(org, items, timezone.localdate()), many=True).data


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    status = serializers.CharField()
    held_on = serializers.DateField(allow_null=True)
    notes = serializers.CharField()
    attendees = serializers.SerializerMethodField()
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    digest_sent_at = serializers.DateTimeField(allow_null=True)
    snapshot = serializers.JSONField(
        help_text="What the review looked at, frozen when held; {} while planned."
    )
    agenda = AgendaItemOutput(many=True, source="agenda.all")
    decisions = ReviewDecisionOutput(many=True, source="decisions.all")
    action_items = serializers.SerializerMethodField()

    def get_attendees(self, review) -> list[int]:
        return sorted(member.pk for member in review.attendees.all())

    @extend_schema(responses=ActionItemOutput(many=True))
    def get_action_items(self, review) -> list[dict]:
        return _action_data(self.context["org"], review.action_items.select_related("owner__user", "review"))


class ReviewSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    status = serializers.CharField()
    held_on = serializers.DateField(allow_null=True)
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)


class ReviewInput(StrictSerializer):
    kind = serializers.ChoiceField(
        choices=ReviewKind.choices,
        error_messages={"invalid_choice": services.KIND_ERROR.replace("{kind}", "{input}")},
    )
    date = serializers.DateField(required=False, help_text="Any day of the period; today by default.")
    attendees = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Member ids."
    )
    notes = serializers.CharField(required=False, allow_blank=True)


class ReviewFilterInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReviewKind.choices, required=False)
    status = serializers.ChoiceField(choices=OperatingReview.Status.choices, required=False)


class HoldInput(StrictSerializer):
    attendees = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Member ids."
    )
    notes = serializers.CharField(required=False, allow_blank=True)


class DecisionInput(StrictSerializer):
    text = serializers.CharField(max_length=500)
    rationale = serializers.CharField(required=False, allow_blank=True)
    agenda_item = serializers.IntegerField(required=False, allow_null=True, help_text="An agenda item id.")


class ActionItemInput(StrictSerializer):
    review = serializers.IntegerField(help_text="The review that assigns it.")
    title = serializers.CharField(max_length=300)
    owner = serializers.IntegerField(help_text="An active member's id.")
    due = serializers.DateField()
    decision = serializers.IntegerField(
        required=False, allow_null=True, help_text="A decision of the review."
    )
    subject_type = serializers.ChoiceField(choices=list(services.LINKABLE), required=False, allow_null=True)
    subject_id = serializers.IntegerField(required=False, allow_null=True)


class ActionStatusInput(StrictSerializer):
    status = serializers.ChoiceField(choices=ActionStatus.choices)


class ActionFilterInput(serializers.Serializer):
    owner = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(choices=ActionStatus.choices, required=False)
    overdue = serializers.BooleanField(required=False)
    review = serializers.IntegerField(required=False)


class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Operating reviews (weekly, monthly, quarterly): the frozen snapshot, agenda, decisions, items."""

    queryset = OperatingReview.objects.prefetch_related("agenda", "decisions", "attendees")
    serializer_class = ReviewOutput

    @extend_schema(parameters=[ReviewFilterInput], responses=ReviewSummaryOutput(many=True))
    def list(self, request):
        params = self.query_filters(ReviewFilterInput)
        reviews = self.get_queryset().prefetch_related(None).filter(**params)  # the summary needs none
        page = self.paginate_queryset(reviews)
        return self.get_paginated_response(ReviewSummaryOutput(page, many=True).data)

    @extend_schema(request=ReviewInput, responses={201: ReviewOutput})
    def create(self, request):
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        review = services.review_create(
            org=self.org,
            kind=values["kind"],
            day=values.get("date"),
            today=timezone.localdate(),
            attendees=values.get("attendees", ()),
            notes=values.get("notes", ""),
        )
        return Response(self.get_serializer(review).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="reviews_hold", request=HoldInput, responses=ReviewOutput)
    @action(detail=True, methods=["post"])
    def hold(self, request, pk=None):
        review = self.get_object()
        data = HoldInput(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_hold(
            org=self.org, review=review, today=timezone.localdate(), **data.validated_data
        )
        return Response(self.get_serializer(review).data)

    @extend_schema(
        methods=["GET"], operation_id="reviews_decisions_list", responses=ReviewDecisionOutput(many=True)
    )
    @extend_schema(
        methods=["POST"],
        operation_id="reviews_decisions_create",
        request=DecisionInput,
        responses={201: ReviewDecisionOutput},
    )
    @action(detail=True, methods=["get", "post"])
    def decisions(self, request, pk=None):
        review = self.get_object()
        if request.method == "GET":
            return Response(ReviewDecisionOutput(review.decisions.all(), many=True).data)
        data = DecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        decision = services.decision_add(org=self.org, review=review, **data.validated_data)
        return Response(ReviewDecisionOutput(decision).data, status=status.HTTP_201_CREATED)


class ActionItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Action items across reviews; an item's status is its only field that changes afterwards."""

    queryset = ActionItem.objects.select_related("owner__user", "review")
    serializer_class = ActionItemOutput

    @extend_schema(parameters=[ActionFilterInput], responses=ActionItemOutput(many=True))
    def list(self, request):
        params = self.query_filters(ActionFilterInput)
        items = services.action_items(
            self.org,
            owner=params.get("owner"),
            status=params.get("status", ""),
            overdue=params.get("overdue", False),
            today=timezone.localdate(),
        ).filter(pk__in=self.get_queryset().values("pk"))
        if "review" in params:
            items = items.filter(review_id=params["review"])
        page = self.paginate_queryset(items)
        return self.get_paginated_response(_action_data(self.org, page))

    def retrieve(self, request, pk=None):
        return Response(_action_data(self.org, [self.get_object()])[0])

    @extend_schema(request=ActionItemInput, responses={201: ActionItemOutput})
    def create(self, request):
        data = ActionItemInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        review = OperatingReview.objects.for_org(self.org).filter(pk=values.pop("review")).first()
        if review is None:
            raise serializers.ValidationError({"review": ["No review of this organisation has this id."]})
        item = services.action_add(org=self.org, review=review, **values)
        return Response(_action_data(self.org, [item])[0], status=status.HTTP_201_CREATED)

    @extend_schema(request=ActionStatusInput, responses=ActionItemOutput)
    def partial_update(self, request, pk=None):
        item = self.get_object()
        data = ActionStatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.action_set_status(org=self.org, item=item, status=data.validated_data["status"])
        return Response(_action_data(self.org, [item])[0])
