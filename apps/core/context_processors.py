def navigation(request):
    """The organisation switcher and the current organisation for the layout."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    memberships = getattr(request, "_nav_memberships", None)
    if memberships is None:
        memberships = list(
            user.memberships.filter(is_active=True)
            .select_related("organization")
            .order_by("organization__name")
        )
        request._nav_memberships = memberships
    return {
        "nav_memberships": memberships,
        "current_org": getattr(request, "org", None),
        "current_membership": getattr(request, "membership", None),
    }
