from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.models import Membership, Team, TeamMember
from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.lookups import get_for_org


class OrganizationOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    time_zone = serializers.CharField()
    currency = serializers.CharField()
    fiscal_year_start_month = serializers.IntegerField()
    attribution_model = serializers.CharField(
        help_text="The attribution model campaign results use when a request names none."
    )
    api_key = serializers.SerializerMethodField()

    def get_api_key(self, org) -> dict:
        key = self.context["request"].auth
        return {"prefix": key.prefix, "name": key.name, "scopes": key.scopes}


class OrganizationView(APIView):
    """The organisation the API key belongs to."""

    @extend_schema(responses=OrganizationOutput)
    def get(self, request):
        return Response(OrganizationOutput(request.auth.organization, context={"request": request}).data)


class MemberOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.full_name")
    role = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """People in the organisation (read-only: membership changes go through the UI)."""

    queryset = Membership.objects.select_related("user")
    serializer_class = MemberOutput


class TeamOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    manager = serializers.IntegerField(source="manager_id", allow_null=True)
    members = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_members(self, team) -> list[int]:
        return sorted(tm.membership_id for tm in team.memberships.all())


class TeamInput(StrictSerializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=Team.Kind.choices, required=False)
    manager = serializers.IntegerField(required=False, allow_null=True, help_text="A member id.")
    members = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="Member ids.")


class TeamViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    queryset = Team.objects.prefetch_related(
        Prefetch("memberships", queryset=TeamMember.objects.only("id", "team_id", "membership_id"))
    )
    serializer_class = TeamOutput

    def _resolve_members(self, data):
        resolved = dict(data)
        if data.get("manager") is not None:
            resolved["manager"] = self._member(data["manager"], "manager")
        if "members" in data:
            resolved["members"] = [self._member(pk, "members") for pk in data["members"]]
        return resolved

    def _member(self, pk, field):
        membership = Membership.objects.for_org(self.org).filter(pk=pk).first()
        if membership is None:
            raise serializers.ValidationError({field: [f"No member with id {pk} in this organisation."]})
        return membership

    @extend_schema(request=TeamInput, responses={201: TeamOutput})
    def create(self, request):
        data = TeamInput(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.team_create(org=self.org, **self._resolve_members(data.validated_data))
        return Response(TeamOutput(self.get_queryset().get(pk=team.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TeamInput, responses=TeamOutput)
    def partial_update(self, request, pk=None):
        team = self.get_object()
        data = TeamInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.team_update(org=self.org, team=team, **self._resolve_members(data.validated_data))
        return Response(TeamOutput(self.get_queryset().get(pk=team.pk)).data)

    def perform_destroy(self, team):
        services.team_delete(org=self.org, team=get_for_org(Team.objects, org=self.org, pk=team.pk))
