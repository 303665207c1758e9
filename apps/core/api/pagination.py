from base64 import b64decode, b64encode
from urllib import parse

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


class CursorPagination(pagination.CursorPagination):
    """Stable pages that cost the same at any depth: a keyset on (-created_at, -id).

    DRF's cursor keeps only the first ordering field as its position and counts
    rows sharing it with an offset capped at 1,000, so past 1,000 leads with one
    created_at (a bulk import) `next` serves the same page forever. Here the
    position is the pair (created_at, id): ties cost nothing, every page is one
    range of the (organization, -created_at, -id) index.
    """

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self.request, self.base_url = request, request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        position, self.backwards = self._decode(request)
        if position is not None:
            at, pk = position
            after = Q(created_at__gt=at) | Q(created_at=at, id__gt=pk)
            before = Q(created_at__lt=at) | Q(created_at=at, id__lt=pk)
            # The plain bound is what the index can seek to; the Q only trims the tie.
            queryset = (
                queryset.filter(created_at__gte=at).filter(after)
                if self.backwards
                else queryset.filter(created_at__lte=at).filter(before)
            )
        order = ("created_at", "id") if self.backwards else self.ordering
        rows = list(queryset.order_by(*order)[: self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        if self.backwards:
            self.page.reverse()
        self.has_next = more if not self.backwards else position is not None
        self.has_previous = position is not None if not self.backwards else more
        return self.page

    def _decode(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None, False
        try:
            tokens = parse.parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"))
            at, pk = parse_datetime(tokens["p"][0]), int(tokens["i"][0])
            backwards = tokens.get("r", ["0"])[0] == "1"
        except (KeyError, TypeError, ValueError, UnicodeError):
            raise NotFound(self.invalid_cursor_message) from None
        if at is None:
            raise NotFound(self.invalid_cursor_message)
        return (at, pk), backwards

    def _link(self, row, backwards):
        tokens = {"p": row.created_at.isoformat(), "i": str(row.pk)}
        if backwards:
            tokens["r"] = "1"
        encoded = b64encode(parse.urlencode(tokens).encode("ascii")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def get_next_link(self):
        return self._link(self.page[-1], False) if self.has_next and self.page else None

    def get_previous_link(self):
        return self._link(self.page[0], True) if self.has_previous and self.page else None

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})
