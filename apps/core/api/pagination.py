from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Stable pages that cost the same at any depth: a keyset on (-created_at, -id)."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500
