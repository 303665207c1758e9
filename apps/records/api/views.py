"""The records API: leads, accounts, opportunities, touchpoints and customers.

Every write calls a service; ids in payloads (owner, account, lead) are
resolved inside the key's organisation, so another organisation's id is a
field error, never a link.

Leads and touchpoints are judged against the organisation's UTM taxonomy,
read once per request (`UtmMixin`): a created one answers with its
`utm_problems`, and a taxonomy enforced at ingest refuses it with a 400
naming the field (a bulk item: an error result).
"""

from functools import cached_property

from django.db import transaction
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.models import Membership
from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.errors import ServiceError
from apps.execution.services import utm
from apps.execution.services.routing import routing_deferred
from apps.quality.services import lead_merge
from apps.records import services
from apps.records.filters import AccountFilter, LeadFilter, OpportunityFilter, TouchpointFilter
from apps.records.models import Account, Customer, Lead, Opportunity, Origin, Touchpoint

from . import serializers as s


class ResolveMixin:
    """Turn ids in validated input into this organisation's objects, or a field error."""

    def resolve(self, data: dict) -> dict:
        resolved = dict(data)
        lookups = {"owner": Membership, "account": Account, "lead": Lead, "primary_contact": Lead}
        for field, model in lookups.items():
            if resolved.get(field) is not None:
                obj = model.objects.for_org(self.org).filter(pk=resolved[field]).first()
                if obj is None:
                    raise serializers.ValidationError(
                        {field: [f"No {field.replace('_', ' ')} with id {resolved[field]} here."]}
                    )
                resolved[field] = obj
        return resolved

    def actor_kwargs(self):
        return {"api_key": self.request.auth, "origin": Origin.API}


def _item_error(exc) -> dict:
    from apps.core.api.errors import _flatten

    if isinstance(exc, ServiceError):
        return {"code": exc.code, "message": exc.message, "fields": exc.fields}
    fields = _flatten(exc.detail)
    first = next(iter(fields), None)
    return {
        "code": "validation_error",
        "message": f"{first}: {fields[first][0]}" if first else "Invalid.",
        "fields": fields,
    }


class UtmMixin:
    """The organisation's UTM taxonomy, read once for the whole request (a bulk call included)."""

    @cached_property
    def utm_taxonomy(self):
        return utm.ingest_taxonomy(self.org)

    def bulk_extra(self, obj) -> dict:
        return {"utm_problems": s.utm_problems(obj, self.utm_taxonomy)}


BULK_RESPONSE = inline_serializer(
    "BulkResult",
    {"counts": serializers.DictField(), "results": serializers.ListField(child=serializers.DictField())},
)


class BulkMixin:
    """POST …/bulk/: up to 1,000 items, each upserted on its own; one result per item."""

    input_serializer = None
    output_serializer = None
    default_match_on = "external_id"
    allowed_match_on = ("external_id",)

    def upsert_one(self, data: dict, match_on: str):
        raise NotImplementedError

    def bulk_extra(self, obj) -> dict:
        """What an item's result says besides its status and id."""
        return {}

    @extend_schema(request=s.BulkInput, responses=BULK_RESPONSE)
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        body = s.BulkInput(data=request.data)
        body.is_valid(raise_exception=True)
        match_on = body.validated_data.get("match_on", self.default_match_on)
        if match_on not in self.allowed_match_on:
            raise serializers.ValidationError(
                {"match_on": [f"Use one of: {', '.join(self.allowed_match_on)}."]}
            )
        results = []
        # Up to 1,000 new leads or accounts: routed together by a worker, not one by one before the answer.
        with routing_deferred():
            self._upsert_items(body.validated_data["items"], match_on, results)
        counts = {k: sum(1 for r in results if r["status"] == k) for k in ("created", "updated", "error")}
        return Response({"counts": counts, "results": results}, status=status.HTTP_200_OK)

    def _upsert_items(self, items, match_on: str, results: list) -> None:
        for index, item in enumerate(items):
            item_input = self.input_serializer(data=item)
            try:
                item_input.is_valid(raise_exception=True)
                with transaction.atomic():  # one savepoint per item: a bad item spoils nothing else
                    obj, created = self.upsert_one(self.resolve(item_input.validated_data), match_on)
            except (serializers.ValidationError, ServiceError) as exc:
                results.append({"index": index, "status": "error", "error": _item_error(exc)})
                continue
            outcome = "created" if created else "updated"
            results.append({"index": index, "status": outcome, "id": obj.pk, **self.bulk_extra(obj)})


class MergeInput(StrictSerializer):
    other = serializers.IntegerField(help_text="The lead to merge into this one; it is hidden afterwards.")
    fields = serializers.DictField(
        child=serializers.ChoiceField(choices=["survivor", "merged"]),
        required=False,
        help_text="Per field, whose value to keep; unnamed fields follow the survivorship rules.",
    )


class LeadViewSet(
    UtmMixin, ResolveMixin, BulkMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    queryset = Lead.objects.select_related("stage").filter(merged_into__isnull=True)
    serializer_class = s.LeadOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = LeadFilter
    input_serializer = s.LeadInput
    allowed_match_on = ("external_id", "email")

    def upsert_one(self, data, match_on):
        return services.lead_upsert(
            org=self.org, match_on=match_on, utm_taxonomy=self.utm_taxonomy, **self.actor_kwargs(), **data
        )

    @extend_schema(request=s.LeadInput, responses={201: s.LeadCreatedOutput})
    def create(self, request):
        data = s.LeadInput(data=request.data)
        data.is_valid(raise_exception=True)
        lead = services.lead_create(
            org=self.org,
            utm_taxonomy=self.utm_taxonomy,
            **self.actor_kwargs(),
            **self.resolve(data.validated_data),
        )
        context = {"request": request, "utm_taxonomy": self.utm_taxonomy}
        return Response(s.LeadCreatedOutput(lead, context=context).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.LeadInput, responses=s.LeadOutput)
    def partial_update(self, request, pk=None):
        lead = self.get_object()
        data = s.LeadInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.lead_update(
            org=self.org, lead=lead, **self.actor_kwargs(), **self.resolve(data.validated_data)
        )
        return Response(s.LeadOutput(self.get_queryset().get(pk=lead.pk), context={"request": request}).data)

    @extend_schema(responses=s.StageEventOutput(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        lead = self.get_object()
        events = lead.stage_events.select_related("actor").order_by("at", "id")
        return Response(s.StageEventOutput(events, many=True).data)

    @extend_schema(request=s.StageChangeInput, responses={201: s.StageEventOutput})
    @action(detail=True, methods=["post"])
    def stage(self, request, pk=None):
        lead = self.get_object()
        data = s.StageChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.lead_change_stage(
            org=self.org,
            lead=lead,
            to=data.validated_data["stage"],
            reason=data.validated_data.get("reason", ""),
            at=data.validated_data.get("at"),
            **self.actor_kwargs(),
        )
        return Response(s.StageEventOutput(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MergeInput, responses={200: s.LeadOutput})
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Merge `other` into this lead; `other` is hidden afterwards and the merge can be undone."""
        survivor = self.get_object()
        data = MergeInput(data=request.data)
        data.is_valid(raise_exception=True)
        other = (
            Lead.objects.for_org(self.org)
            .filter(pk=data.validated_data["other"], merged_into__isnull=True)
            .first()
        )
        if other is None or other.pk == survivor.pk:
            raise serializers.ValidationError(
                {"other": [f"No other lead with id {data.validated_data['other']} here."]}
            )
        lead_merge(
            org=self.org, survivor=survivor, merged=other, field_choices=data.validated_data.get("fields", {})
        )
        return Response(
            s.LeadOutput(self.get_queryset().get(pk=survivor.pk), context={"request": request}).data
        )


class AccountViewSet(
    ResolveMixin, BulkMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    queryset = Account.objects.all()
    serializer_class = s.AccountOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = AccountFilter
    input_serializer = s.AccountInput
    allowed_match_on = ("external_id", "domain")

    def upsert_one(self, data, match_on):
        return services.account_upsert(org=self.org, match_on=match_on, **data)

    @extend_schema(request=s.AccountInput, responses={201: s.AccountOutput})
    def create(self, request):
        data = s.AccountInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.account_create(org=self.org, **self.resolve(data.validated_data))
        return Response(
            s.AccountOutput(account, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=s.AccountInput, responses=s.AccountOutput)
    def partial_update(self, request, pk=None):
        account = self.get_object()
        data = s.AccountInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.account_update(org=self.org, account=account, **self.resolve(data.validated_data))
        return Response(s.AccountOutput(account, context={"request": request}).data)


class OpportunityViewSet(ResolveMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    queryset = Opportunity.objects.all()
    serializer_class = s.OpportunityOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = OpportunityFilter

    @extend_schema(request=s.OpportunityInput, responses={201: s.OpportunityOutput})
    def create(self, request):
        data = s.OpportunityInput(data=request.data)
        data.is_valid(raise_exception=True)
        opportunity = services.opportunity_create(org=self.org, **self.resolve(data.validated_data))
        return Response(
            s.OpportunityOutput(opportunity, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.OpportunityInput, responses=s.OpportunityOutput)
    def partial_update(self, request, pk=None):
        opportunity = self.get_object()
        data = s.OpportunityInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.opportunity_update(
            org=self.org, opportunity=opportunity, **self.resolve(data.validated_data)
        )
        return Response(s.OpportunityOutput(opportunity, context={"request": request}).data)


class TouchpointViewSet(
    UtmMixin, ResolveMixin, BulkMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    queryset = Touchpoint.objects.all()
    serializer_class = s.TouchpointOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = TouchpointFilter
    input_serializer = s.TouchpointInput

    def resolve(self, data):
        data = dict(data)
        email = data.pop("email", None)
        if email and data.get("lead") is None:
            lead = services.find_lead_for_upsert(self.org, match_on="email", values={"email": email})
            if lead is None:
                raise serializers.ValidationError({"email": [f"No lead with e-mail {email} here."]})
            data["lead"] = lead.pk
        return super().resolve(data)

    def upsert_one(self, data, match_on):
        return services.touchpoint_upsert(org=self.org, utm_taxonomy=self.utm_taxonomy, **data)

    @extend_schema(request=s.TouchpointInput, responses={201: s.TouchpointCreatedOutput})
    def create(self, request):
        data = s.TouchpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        touchpoint = services.touchpoint_create(
            org=self.org, utm_taxonomy=self.utm_taxonomy, **self.resolve(data.validated_data)
        )
        context = {"request": request, "utm_taxonomy": self.utm_taxonomy}
        return Response(
            s.TouchpointCreatedOutput(touchpoint, context=context).data, status=status.HTTP_201_CREATED
        )


class CustomerViewSet(ResolveMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    queryset = Customer.objects.all()
    serializer_class = s.CustomerOutput

    @extend_schema(request=s.CustomerInput, responses={201: s.CustomerOutput})
    def create(self, request):
        data = s.CustomerInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.customer_create(org=self.org, **self.resolve(data.validated_data))
        return Response(s.CustomerOutput(customer).data, status=status.HTTP_201_CREATED)
