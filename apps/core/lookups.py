"""Lookups that answer 404 for anything outside the caller's organisation.

A missing object and another organisation's object look the same from here:
both raise Http404, so nobody can probe which ids exist elsewhere.
"""

from django.core.exceptions import ValidationError
from django.http import Http404


def get_for_org(queryset, *, org, **lookup):
    """The single object matching `lookup` inside `org`, or Http404."""
    model = queryset.model
    try:
        return queryset.filter(organization=org).get(**lookup)
    except (model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(f"No {model._meta.verbose_name} matches the given query.") from None
