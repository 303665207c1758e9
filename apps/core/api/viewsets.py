"""The base of every API viewset: scoping is owned here, not by subclasses.

A subclass names its queryset; `get_queryset` always narrows it to the API
key's organisation and cannot be overridden (the class refuses at import), so
no endpoint can forget tenancy. Extra narrowing goes in `filter_queryset_for`.
"""

from rest_framework import serializers, viewsets

from .idempotency import idempotent


class OrgScopedViewSet(viewsets.GenericViewSet):
    queryset = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset; override filter_queryset_for(queryset) instead "
                "so organisation scoping stays in OrgScopedViewSet."
            )

    @property
    def org(self):
        return self.request.auth.organization

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI schema generation
            return self.queryset.none()
        queryset = self.queryset.all().filter(organization=self.org)
        return self.filter_queryset_for(queryset)

    def filter_queryset_for(self, queryset):
        return queryset

    # Query parameters that are not filters; a request with nothing else skips
    # the filter backends (django-filter builds a whole form on every call).
    NOT_FILTERS = frozenset({"cursor", "page_size", "fields"})

    def refuse_unknown_filters(self, allowed) -> None:
        """A 400 naming each query parameter that is neither in `allowed` nor one of NOT_FILTERS."""
        unknown = sorted(set(self.request.query_params) - {*allowed, *self.NOT_FILTERS})
        if unknown:
            raise serializers.ValidationError({name: ["Unknown filter."] for name in unknown})

    def query_filters(self, filters_class) -> dict:
        """The query parameters read by `filters_class` (a serializer of filters), or a 400 naming each
        unknown or bad one."""
        self.refuse_unknown_filters(filters_class().fields)
        params = filters_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return params.validated_data

    def filter_queryset(self, queryset):
        if not set(self.request.query_params) - self.NOT_FILTERS:
            return queryset
        return super().filter_queryset(queryset)

    @idempotent
    def dispatch(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "org": self.org}
