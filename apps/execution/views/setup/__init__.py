"""Routing and SLA set-up pages: the routing rules of leads, accounts and
opportunities (draft, publish, history; a simulator for leads), queues and their
members, reps' schedules and absences, business calendars, reject reasons and
SLA policies.

Everyone in the organisation can look; changing routing needs "routing.edit",
SLA policies "sla.edit", and a rep's profile "leads.reassign" or "routing.edit",
except that reps may change their own hours and absences.
"""

from django.urls import path

from . import people, routing, sla


def policy_patterns(page: routing.PolicyPage) -> list:
    """One routed object's policy pages: the leads' under routing/ (their URL names unprefixed),
    the accounts' under routing/accounts/ with names execution_routing_accounts_*, and so on."""
    root, name, kwargs = page.prefix, page.url_name, {"object_type": page.object_type}
    return [
        path(root, routing.routing, kwargs, name=name),
        path(f"{root}rules/new/", routing.routing_rule_new, kwargs, name=f"{name}_rule_new"),
        path(f"{root}rules/<int:index>/", routing.routing_rule, kwargs, name=f"{name}_rule"),
        path(
            f"{root}rules/<int:index>/delete/",
            routing.routing_rule_delete,
            kwargs,
            name=f"{name}_rule_delete",
        ),
        path(f"{root}rules/<int:index>/move/", routing.routing_rule_move, kwargs, name=f"{name}_rule_move"),
        path(f"{root}fallback/", routing.routing_fallback, kwargs, name=f"{name}_fallback"),
        path(f"{root}publish/", routing.routing_publish, kwargs, name=f"{name}_publish"),
    ]


urlpatterns = [
    *(pattern for page in routing.POLICY_PAGES.values() for pattern in policy_patterns(page)),
    # A version knows its policy, so one address serves the versions of all three.
    path("routing/versions/<int:pk>/", routing.routing_version, name="execution_routing_version"),
    path("routing/simulate/", routing.simulator, name="execution_simulator"),
    path("routing/pools/", people.pools, name="execution_pools"),
    path("routing/pools/<int:pk>/", people.pool, name="execution_pool"),
    path("routing/pools/<int:pk>/delete/", people.pool_delete, name="execution_pool_delete"),
    path("routing/reps/", people.reps, name="execution_reps"),
    path("routing/reps/<int:pk>/", people.rep, name="execution_rep"),
    path("routing/absences/<int:pk>/delete/", people.rep_absence_delete, name="execution_rep_absence_delete"),
    path("routing/calendars/", people.calendars_page, name="execution_calendars"),
    path("routing/calendars/<int:pk>/", people.calendar_page, name="execution_calendar"),
    path("routing/reject-reasons/", sla.reject_reasons, name="execution_reject_reasons"),
    path("routing/reject-reasons/<int:pk>/", sla.reject_reason, name="execution_reject_reason"),
    path("sla/policies/", sla.sla_policies, name="execution_sla_policies"),
    path("sla/policies/<int:pk>/", sla.sla_policy, name="execution_sla_policy"),
]
