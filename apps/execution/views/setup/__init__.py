"""Routing and SLA set-up pages: the lead routing rules (draft, publish, history,
simulator), queues and their members, reps' schedules and absences, business
calendars, reject reasons and SLA policies.

Everyone in the organisation can look; changing routing needs "routing.edit",
SLA policies "sla.edit", and a rep's profile "leads.reassign" or "routing.edit",
except that reps may change their own hours and absences.
"""

from django.urls import path

from . import people, routing, sla

urlpatterns = [
    path("routing/", routing.routing, name="execution_routing"),
    path("routing/rules/new/", routing.routing_rule_new, name="execution_routing_rule_new"),
    path("routing/rules/<int:index>/", routing.routing_rule, name="execution_routing_rule"),
    path(
        "routing/rules/<int:index>/delete/", routing.routing_rule_delete, name="execution_routing_rule_delete"
    ),
    path("routing/rules/<int:index>/move/", routing.routing_rule_move, name="execution_routing_rule_move"),
    path("routing/fallback/", routing.routing_fallback, name="execution_routing_fallback"),
    path("routing/publish/", routing.routing_publish, name="execution_routing_publish"),
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
