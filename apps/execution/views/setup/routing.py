"""The routing policies of leads, accounts and opportunities: the published rules
and the draft, rule edits, the fallback queue, publishing with a reviewed diff,
the version history, and the simulator that replays leads through the lead
rules without assigning anything.

The three policies share every page; each page takes the routed object from its
URL (`POLICY_PAGES` says where each one lives) and edits only that policy.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404
from django.shortcuts import render

from apps.accounts.access import org_view, require_permission
from apps.core.charts import bar_chart
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.execution import forms
from apps.execution.models import Assignment, RoutingPolicy, RoutingPolicyVersion, RoutingPool
from apps.execution.routing import types
from apps.execution.services import policies, simulation
from apps.execution.services import setup as services
from apps.records import conditions
from apps.records.models import CustomField, Lead

from .common import EDIT_ROUTING, back, member_names, post_only

SIMULATION_ROWS = 500

LEAD = RoutingPolicy.Object.LEAD
ACCOUNT = RoutingPolicy.Object.ACCOUNT
OPPORTUNITY = RoutingPolicy.Object.OPPORTUNITY


# --- The routing policies -------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyPage:
    """Where one object's routing policy is set up, and the words its pages use for it."""

    object_type: str
    prefix: str  # the pages' path under the organisation
    url_name: str  # the policy page's URL name; its sub-pages add _rule_new, _rule, ... to it
    tab: str
    singular: str
    plural: str
    summary: str  # what the policy does, in one sentence (its tab says it)
    empty_title: str
    empty_message: str
    published_means: str  # what the publish page says happens from then on

    @property
    def title(self) -> str:
        return f"{self.singular.capitalize()} routing"

    @property
    def names(self) -> dict[str, str]:
        """URL names of the policy's pages, for {% url %} in the shared templates."""
        suffixes = ("rule_new", "rule", "rule_delete", "rule_move", "fallback", "publish")
        return {"home": self.url_name, **{suffix: f"{self.url_name}_{suffix}" for suffix in suffixes}}

    @property
    def no_queue_message(self) -> str:
        return (
            f"Routing sends {self.plural} to people through queues: a group of reps sharing {self.plural} "
            "round robin, by weight, by territory or by load. Create a queue with its members first, "
            f"then add rules that send {self.plural} to it."
        )

    @property
    def conditions_help(self) -> str:
        extra = {
            LEAD: "the matched account, the region and the time the lead arrives",
            ACCOUNT: "its segments and the time it is created",
            OPPORTUNITY: "its account's fields, region and segments, and the time it is created",
        }[self.object_type]
        return (
            f"Every condition must hold; a rule without conditions takes every {self.singular} that reaches "
            f"it. Besides the {self.singular}'s own fields you can test {extra}."
        )

    @property
    def can_hold(self) -> bool:
        # Holding waits on a completeness score, which opportunities do not have.
        return self.object_type != OPPORTUNITY

    @property
    def simulates(self) -> bool:
        # The simulator replays leads only; accounts and opportunities have no history of offers to compare.
        return self.object_type == LEAD


POLICY_PAGES = {
    page.object_type: page
    for page in (
        PolicyPage(
            object_type=LEAD,
            prefix="routing/",
            url_name="execution_routing",
            tab="Leads",
            singular="lead",
            plural="leads",
            summary="A new lead is offered to a rep, who accepts or rejects it while SLA clocks time "
            "the answer.",
            empty_title="No routing rules yet",
            empty_message="Add a rule that sends leads to one of your queues, choose a fallback queue, then "
            "publish. Until something is published, new leads stay unassigned.",
            published_means="New leads follow the published rules from the moment you publish; "
            "leads already assigned keep their rep.",
        ),
        PolicyPage(
            object_type=ACCOUNT,
            prefix="routing/accounts/",
            url_name="execution_routing_accounts",
            tab="Accounts",
            singular="account",
            plural="accounts",
            summary="An account created without an owner is given to the person chosen at once, with no "
            "offer, SLA or lead caps: “fewest open” counts the accounts each person owns, and the "
            "previous owner is whoever owns the account's leads.",
            empty_title="No account routing published",
            empty_message="Add a rule or a fallback queue, then publish. Until something is published, "
            "accounts created without an owner stay unowned.",
            published_means="New accounts created without an owner follow it from now on; "
            "accounts that already have an owner keep them.",
        ),
        PolicyPage(
            object_type=OPPORTUNITY,
            prefix="routing/opportunities/",
            url_name="execution_routing_opportunities",
            tab="Opportunities",
            singular="opportunity",
            plural="opportunities",
            summary="An opportunity created without an owner is given to the person chosen at once, with no "
            "offer, SLA or lead caps: “fewest open” counts each person's open opportunities, the "
            "account owner is the opportunity's account's owner, and the previous owner is whoever "
            "owned the account's previous opportunity.",
            empty_title="No opportunity routing published",
            empty_message="Add a rule or a fallback queue, then publish. Until something is published, "
            "opportunities created without an owner stay unowned.",
            published_means="New opportunities created without an owner follow it from now on; "
            "opportunities that already have an owner keep them.",
        ),
    )
}


def _page_context(object_type: str) -> dict:
    return {"page": POLICY_PAGES[object_type], "policy_tabs": list(POLICY_PAGES.values())}


def _versions(org, object_type: str = LEAD):
    policy = services.routing_policy(org=org, object_type=object_type)
    if policy is None:
        return None, []
    versions = list(
        RoutingPolicyVersion.objects.for_org(org)
        .filter(policy=policy)
        .select_related("published_by", "fallback_pool")
        .order_by("-number")
    )
    for version in versions:
        version.policy = policy  # the diff names what a catch-all rule takes
    return policy, versions


def _current(versions, status):
    return next((v for v in versions if v.status == status), None)


def rule_rows(rules, *, people: dict, pools: dict, object_type: str = LEAD) -> list[dict]:
    """Rules as sentences: each condition described, the action and whom it targets."""
    actions = forms.action_labels(object_type)
    rows = []
    for index, rule in enumerate(rules):
        action = rule.get("action", {})
        threshold = action.get("min_completeness")
        rows.append(
            {
                "index": index,
                "number": index + 1,
                "name": rule.get("name", ""),
                "conditions": [conditions.describe(c) for c in rule.get("conditions") or []],
                "action": actions.get(action.get("type"), action.get("type")),
                "person": people.get(action.get("person"), "(person gone)") if action.get("person") else "",
                "pool": pools.get(action.get("pool"), "(queue gone)") if action.get("pool") else "",
                "threshold": f"{threshold:.0%}" if threshold is not None else "",
            }
        )
    return rows


def _rule_context(org, *versions) -> tuple[dict, dict]:
    people_ids = {r.get("action", {}).get("person") for v in versions if v for r in v.rules}
    pools = dict(RoutingPool.objects.for_org(org).values_list("pk", "name"))
    return member_names(org, people_ids), pools


def diff_rows(lines) -> list[tuple[str, str]]:
    """Unified diff lines with a kind for styling: add, remove, hunk or context."""
    rows = []
    for line in lines or ():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "remove"}.get(line[:1], "context")
        rows.append((kind, line))
    return rows


@org_view()
def routing(request, object_type=LEAD):
    org = request.org
    _, versions = _versions(org, object_type)
    draft = _current(versions, RoutingPolicyVersion.Status.DRAFT)
    published = _current(versions, RoutingPolicyVersion.Status.PUBLISHED)
    people, pools = _rule_context(org, draft, published)
    can_edit = request.membership.can(EDIT_ROUTING)
    current = draft or published
    fallback_form = None
    if can_edit:
        fallback_form = forms.FallbackForm(
            org=org, initial={"pool": current.fallback_pool_id if current else None}
        )
    return render(
        request,
        "execution/setup/routing.html",
        {
            **_page_context(object_type),
            "published": published,
            "published_rules": rule_rows(published.rules, people=people, pools=pools, object_type=object_type)
            if published
            else [],
            "draft": draft,
            "draft_rules": rule_rows(draft.rules, people=people, pools=pools, object_type=object_type)
            if draft
            else [],
            "history": [v for v in versions if v.status != RoutingPolicyVersion.Status.DRAFT],
            "has_pools": bool(pools),
            "can_edit": can_edit,
            "fallback_form": fallback_form,
        },
    )


def _working_rules(org, object_type: str) -> list:
    """The rules an edit starts from: the draft's, or the published ones a new draft will copy."""
    _, versions = _versions(org, object_type)
    current = _current(versions, RoutingPolicyVersion.Status.DRAFT) or _current(
        versions, RoutingPolicyVersion.Status.PUBLISHED
    )
    return list(current.rules) if current else []


def _rule_field_choices(org, object_type: str = LEAD):
    custom = CustomField.objects.for_org(org).filter(object_type=object_type).order_by("label")
    return forms.routing_field_choices(custom, object_type)


def _rule_page(request, index: int | None, object_type: str):
    org = request.org
    page = POLICY_PAGES[object_type]
    rules = _working_rules(org, object_type)
    if index is not None and not 0 <= index < len(rules):
        raise Http404("No such rule in the draft.")
    existing = rules[index] if index is not None else {"action": {"type": types.ASSIGN_POOL}}
    choices = _rule_field_choices(org, object_type)
    conditions_error = None
    if request.method == "POST":
        form = forms.RuleForm(request.POST, org=org, object_type=object_type)
        formset = forms.conditions_formset(request.POST, prefix="cond", field_choices=choices)
        if form.is_valid() and formset.is_valid():
            rule = form.rule(forms.formset_conditions(formset))
            try:
                services.routing_rule_save(
                    org=org, rule=rule, index=index, actor=request.user, object_type=object_type
                )
            except ServiceError as exc:
                if exc.code == "not_found":
                    messages.error(request, exc.message)
                    return back(request, page.url_name)
                if exc.field == "conditions":
                    conditions_error = exc.message
                else:
                    add_service_error(form, exc, aliases=forms.RuleForm.ALIASES)
            else:
                messages.success(
                    request, f"Rule “{rule['name']}” saved in the draft. Publish it to apply it."
                )
                return back(request, page.url_name)
    else:
        form = forms.RuleForm(org=org, object_type=object_type, initial=forms.RuleForm.initial_for(existing))
        formset = forms.conditions_formset(
            prefix="cond", field_choices=choices, conditions=existing.get("conditions")
        )
    return render(
        request,
        "execution/setup/rule.html",
        {
            **_page_context(object_type),
            "form": form,
            "formset": formset,
            "conditions_error": conditions_error,
            "index": index,
            "number": (index + 1) if index is not None else len(rules) + 1,
        },
        status=400 if request.method == "POST" else 200,
    )


@org_view(EDIT_ROUTING)
def routing_rule_new(request, object_type=LEAD):
    return _rule_page(request, None, object_type)


@org_view(EDIT_ROUTING)
def routing_rule(request, index, object_type=LEAD):
    return _rule_page(request, index, object_type)


@org_view(EDIT_ROUTING)
def routing_rule_delete(request, index, object_type=LEAD):
    if refused := post_only(request):
        return refused
    try:
        services.routing_rule_delete(
            org=request.org, index=index, actor=request.user, object_type=object_type
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Rule {index + 1} removed from the draft.")
    return back(request, POLICY_PAGES[object_type].url_name)


@org_view(EDIT_ROUTING)
def routing_rule_move(request, index, object_type=LEAD):
    if refused := post_only(request):
        return refused
    try:
        services.routing_rule_move(
            org=request.org,
            index=index,
            direction=request.POST.get("direction", ""),
            actor=request.user,
            object_type=object_type,
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    return back(request, POLICY_PAGES[object_type].url_name)


@org_view(EDIT_ROUTING)
def routing_fallback(request, object_type=LEAD):
    if refused := post_only(request):
        return refused
    home = POLICY_PAGES[object_type].url_name
    form = forms.FallbackForm(request.POST, org=request.org)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed queues.")
        return back(request, home)
    pool = form.cleaned_data["pool"]
    try:
        services.routing_fallback_set(org=request.org, pool=pool, actor=request.user, object_type=object_type)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Fallback queue set to {pool.name} in the draft."
            if pool
            else "Fallback queue cleared in the draft.",
        )
    return back(request, home)


@org_view()
def routing_publish(request, object_type=LEAD):
    org = request.org
    page = POLICY_PAGES[object_type]
    policy, versions = _versions(org, object_type)
    draft = _current(versions, RoutingPolicyVersion.Status.DRAFT)
    published = _current(versions, RoutingPolicyVersion.Status.PUBLISHED)
    can_edit = request.membership.can(EDIT_ROUTING)
    reviewed = forms.PublishForm.token(draft) if draft else ""
    form = forms.PublishForm(request.POST or None, initial={"reviewed": reviewed})
    if request.method == "POST":
        require_permission(request, EDIT_ROUTING)
        if draft is None:
            messages.error(request, "There is no draft to publish: edit a rule first.")
            return back(request, page.url_name)
        if form.is_valid() and form.cleaned_data["reviewed"] != reviewed:
            # Someone changed the draft after this page was drawn: publish only what was reviewed.
            form = forms.PublishForm({"reviewed": reviewed, "note": form.cleaned_data["note"]})
            form.is_valid()
            form.add_error(
                None, "The draft changed while you were reviewing it. Check the changes below again."
            )
        elif form.is_valid():
            try:
                version = policies.policy_publish(
                    org=org, policy=policy, actor=request.user, note=form.cleaned_data["note"]
                )
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request, f"Version {version.number} published: new {page.plural} follow it from now on."
                )
                return back(request, page.url_name)
    diff = diff_rows(policies.policy_diff(published, draft) if draft else [])
    return render(
        request,
        "execution/setup/publish.html",
        {
            **_page_context(object_type),
            "draft": draft,
            "published": published,
            "diff": diff,
            "unchanged": bool(draft) and not any(kind in ("add", "remove") for kind, _ in diff),
            "form": form if can_edit else None,
        },
        status=400 if request.method == "POST" else 200,
    )


@org_view()
def routing_version(request, pk):
    """Any policy's version: the version knows whose it is, so one address serves all three."""
    org = request.org
    version = get_for_org(
        RoutingPolicyVersion.objects.select_related("policy", "published_by", "created_by", "fallback_pool"),
        org=org,
        pk=pk,
    )
    people, pools = _rule_context(org, version)
    object_type = version.policy.object_type
    return render(
        request,
        "execution/setup/version.html",
        {
            **_page_context(object_type),
            "version": version,
            "rules": rule_rows(version.rules, people=people, pools=pools, object_type=object_type),
            "diff": diff_rows(version.diff),
        },
    )


# --- Simulator ----------------------------------------------------------------------------------------


def _find_lead(org, text: str) -> Lead | None:
    leads = Lead.objects.for_org(org).select_related("account", "stage")
    if text.isdigit():
        return leads.filter(pk=int(text)).first()
    return leads.filter(email__iexact=text, merged_into__isnull=True).order_by("-captured_at").first()


def _considered_rows(decision: types.Decision, pools: dict) -> list[dict]:
    return [
        {
            "name": c.name,
            "pool": pools.get(c.pool, "") if c.pool else "direct",
            "chosen": c.excluded is None,
            "why": types.EXCLUSIONS.get(c.excluded, c.excluded) if c.excluded else "chosen",
        }
        for c in decision.considered
    ]


def load_chart(result) -> str | None:
    """Leads per rep, simulated against what really happened; None when neither has any."""
    ids = sorted(set(result.load) | set(result.actual_load), key=lambda pk: result.names.get(pk, ""))
    if not ids:
        return None
    return bar_chart(
        title="Leads per rep: simulated against actual",
        x=[result.names.get(pk, f"#{pk}") for pk in ids],
        series={
            "Simulated": [result.load.get(pk, 0) for pk in ids],
            "Actual": [result.actual_load.get(pk, 0) for pk in ids],
        },
        y_title="Leads",
    )


def _simulate_one(org, lead, version) -> dict:
    decision = simulation.simulate_lead(org=org, lead=lead, version=version)
    pools = dict(RoutingPool.objects.for_org(org).values_list("pk", "name"))
    assignee = next((c.name for c in decision.considered if c.candidate == decision.assignee), "")
    history = list(
        Assignment.objects.for_org(org)
        .filter(lead=lead)
        .select_related("assignee__user")
        .order_by("offered_at")
    )
    return {
        "lead": lead,
        "decision": decision,
        "assignee_name": assignee or member_names(org, [decision.assignee]).get(decision.assignee, ""),
        "pool_name": pools.get(decision.pool, ""),
        "considered": _considered_rows(decision, pools),
        "history": history,
    }


def _simulate_period(org, data, version, changed_only: bool) -> dict:
    result = simulation.simulate_period(org=org, start=data["start"], end=data["end"], version=version)
    names = dict(result.names)
    rows = [row for row in result.leads if row.changed or not changed_only]
    return {
        "result": result,
        "rows": [
            {
                "lead_id": row.lead_id,
                "label": row.lead_label,
                "outcome": row.decision.outcome,
                "would": names.get(row.decision.assignee, "")
                if row.decision.outcome == types.ASSIGNED
                else "",
                "rule": row.decision.rule_name,
                "actual": names.get(row.actual_assignee, "") if row.actual_assignee else "",
                "changed": row.changed,
            }
            for row in rows[:SIMULATION_ROWS]
        ],
        "shown_of": len(rows),
        "load_rows": sorted(
            (
                (names.get(pk, f"#{pk}"), result.load.get(pk, 0), result.actual_load.get(pk, 0))
                for pk in set(result.load) | set(result.actual_load)
            ),
            key=lambda row: row[0],
        ),
        "chart": load_chart(result),
    }


@org_view()
def simulator(request):
    org = request.org
    form = forms.SimulatorForm(request.GET if request.GET else None)
    context = {"form": form, "one": None, "period": None}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            if data["lead"]:
                lead = _find_lead(org, data["lead"])
                if lead is None:
                    form.add_error("lead", "No lead here has that id or e-mail address.")
                else:
                    context["one"] = _simulate_one(org, lead, data["version"])
            else:
                context["period"] = _simulate_period(
                    org, data, data["version"], request.GET.get("changed") == "1"
                )
        except ServiceError as exc:
            add_service_error(form, exc)
    return render(request, "execution/setup/simulator.html", context)
