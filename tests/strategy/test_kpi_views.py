"""The KPI tree's page, node pages, CSV and API: the same numbers everywhere, forms, permissions.

The organisation and its opportunities are those of tests/strategy/test_kpi.py,
read on 16 March 2026: pipeline created in March to date 16,000 (target
31,000, paced to 16,000: on track), opportunities created 5 (target 10, paced
to 5.16: at risk).
"""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.roles import Role
from apps.measurement.metrics import engine
from apps.strategy.models import KpiNode, KpiTarget, KpiValue
from apps.strategy.services import kpi as services
from apps.strategy.views import kpi as views
from tests import factories
from tests.conftest import api_client_for
from tests.strategy.test_kpi import MARCH, TODAY, books, node, target  # noqa: F401 (books is a fixture)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    """Read the tree on 16 March 2026 wherever it is computed (page, CSV, API)."""
    monkeypatch.setattr(engine, "local_today", lambda org: TODAY)
    monkeypatch.setattr(views, "local_today", lambda org: TODAY)


@pytest.fixture
def tree(books):  # noqa: F811
    pipeline = node(books, "Pipeline created", metric="pipeline_created", owner=books["rep"])
    target(books, pipeline, 31000)
    opps = node(
        books, "Opportunities created", metric="opportunities_created", parent=pipeline, kind="leading"
    )
    target(books, opps, 10)
    manual = node(books, "Partner referrals", parent=pipeline, owner=books["admin"])
    services.kpi_value_set(org=books["org"], node=manual, period_start=MARCH, value=3)
    return {"pipeline": pipeline, "opps": opps, "manual": manual}


def _client(client, membership):
    client.force_login(membership.user)
    return client


def url(name, *args):
    return reverse(name, args=["acme", *args])


# --- The tree page -------------------------------------------------------------------------------


def test_tree_page_shows_statuses_numbers_and_the_no_owner_flag(books, tree, client):  # noqa: F811
    viewer = factories.make_member(books["org"], role=Role.VIEWER)
    response = _client(client, viewer).get(url("strategy_kpi_tree"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<li class="kpi-node') == 3 and body.count('<svg class="kpi-spark"') == 3
    assert (
        'class="kpi-status kpi-status-on_track"' in body and 'class="kpi-status kpi-status-at_risk"' in body
    )
    assert '16,000.00 USD <span class="muted">of</span> 31,000.00 USD' in body  # pipeline: actual of target
    assert "No owner" in body  # opportunities created has none
    assert "Ann Rep" in body
    assert "Leading" in body and "Lagging" in body
    assert "New node" not in body  # a viewer reads
    assert reverse("strategy_kpi_export", args=["acme"]) in body


def test_empty_tree_says_how_to_start(books, client):  # noqa: F811
    body = _client(client, books["admin"]).get(url("strategy_kpi_tree")).content.decode()
    assert "No KPI tree yet" in body and "Add the first node" in body
    viewer = factories.make_member(books["org"], role=Role.VIEWER)
    body = _client(client, viewer).get(url("strategy_kpi_tree")).content.decode()
    assert "ask them" in body and "Add the first node" not in body


def test_page_api_and_csv_give_the_same_numbers(books, tree, client):  # noqa: F811
    api = api_client_for(books["org"])
    data = api.get("/api/v1/kpi-tree/").json()
    assert data["today"] == "2026-03-16"
    assert data["counts"] == {"on_track": 1, "at_risk": 1, "off_track": 0, "no_data": 1}
    [root] = data["nodes"]
    assert (root["name"], root["actual"], root["target"], root["status"]) == (
        "Pipeline created",
        16000,
        31000,
        "on_track",
    )
    assert [p["actual"] for p in root["series"]] == [0, 2000, 3000, 4000, 5000, 16000]
    opps, manual = root["children"]
    assert (opps["path"], opps["actual"], opps["status"], opps["owner"]) == (
        "Pipeline created / Opportunities created",
        5,
        "at_risk",
        None,
    )
    assert opps["expected"] == pytest.approx(10 * 16 / 31)
    assert (manual["actual"], manual["target"], manual["status"]) == (3, None, "no_data")

    response = _client(client, books["admin"]).get(url("strategy_kpi_export"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_path = {row["path"]: row for row in rows}
    for item in (root, opps, manual):
        row = by_path[item["path"]]
        assert row["status"] == item["status"]
        assert (float(row["actual"]) if row["actual"] else None) == item["actual"]
        assert (float(row["target"]) if row["target"] else None) == item["target"]
    assert by_path["Pipeline created / Opportunities created"]["owner"] == "(no owner)"
    assert by_path["Pipeline created"]["owner"] == "Ann Rep"
    assert by_path["Pipeline created / Partner referrals"]["metric"] == "(entered by hand)"


def test_tree_page_queries_do_not_grow_with_nodes(books, tree, client):  # noqa: F811
    client = _client(client, books["admin"])

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url("strategy_kpi_tree")).status_code == 200
        return len(captured)

    queries()  # computes and caches the metric series
    before = queries()
    for n in range(6):
        target(
            books, node(books, f"More pipeline {n}", metric="pipeline_created", parent=tree["pipeline"]), 5
        )
        node(books, f"Manual {n}")
    assert queries() == before


def test_cached_series_give_way_to_a_new_rollup(books, tree, client):  # noqa: F811
    from decimal import Decimal

    from apps.measurement.services import rollup
    from apps.records.models import Account, Opportunity

    api = api_client_for(books["org"])
    assert api.get("/api/v1/kpi-tree/").json()["nodes"][0]["actual"] == 16000
    account = Account.objects.for_org(books["org"]).first()
    Opportunity.objects.create(
        organization=books["org"], name="Late", account=account, type="new_business",
        created_date=TODAY, status="open", amount=Decimal(4000),
    )  # fmt: skip
    assert api.get("/api/v1/kpi-tree/").json()["nodes"][0]["actual"] == 16000  # facts not rolled up yet
    rollup.rollup(books["org"], full=True)
    assert api.get("/api/v1/kpi-tree/").json()["nodes"][0]["actual"] == 20000


def test_only_editors_can_ask_for_fresh_figures(books, tree, client, monkeypatch):  # noqa: F811
    asked = []
    real = services.kpi_tree
    monkeypatch.setattr(services, "kpi_tree", lambda **kw: asked.append(kw.get("fresh")) or real(**kw))
    viewer = factories.make_member(books["org"], role=Role.VIEWER)
    body = _client(client, viewer).get(url("strategy_kpi_tree") + "?fresh=1").content.decode()
    assert "Recompute now" not in body
    body = _client(client, books["admin"]).get(url("strategy_kpi_tree") + "?fresh=1").content.decode()
    assert "Recompute now" in body and "Metric figures as of" in body
    assert asked == [False, True]


def test_nested_details_are_balanced_at_any_depth(books, tree, client):  # noqa: F811
    node(books, "SQLs", parent=tree["opps"])  # depths 0, 1, 2, 1, then a second root at 0
    node(books, "CAC", metric="cac_blended")
    node(books, '<b onclick="x">Bold</b>', metric="leads", parent=tree["opps"])
    body = _client(client, books["admin"]).get(url("strategy_kpi_tree")).content.decode()
    assert "<b onclick" not in body  # names are escaped, in the sparkline labels too
    assert "&lt;b onclick=&quot;x&quot;&gt;Bold&lt;/b&gt;: last 6 periods" in body
    section = body[body.index('<ul class="kpi-tree">') : body.index("Counts and summed amounts")]
    for tag in ("ul", "li", "details"):
        assert section.count(f"<{tag}") == section.count(f"</{tag}>"), tag
    assert section.count('<ul class="kpi-children"') == 2
    # SQLs sits inside Opportunities created, which sits inside Pipeline created; CAC is outside them.
    sqls, cac = section.index(">SQLs<"), section.index(">CAC<")
    assert section[:sqls].count('<ul class="kpi-children"') - section[:sqls].count("</ul>") == 2
    assert section[:cac].count("<ul") - section[:cac].count("</ul>") == 1  # only the tree's own list


# --- Node pages ----------------------------------------------------------------------------------


def test_node_detail(books, tree, client):  # noqa: F811
    body = _client(client, books["admin"]).get(url("strategy_kpi_node", tree["opps"].pk)).content.decode()
    assert "Pipeline created / Opportunities created" in body
    assert "At risk" in body and "Trend: falling." in body
    assert "Mar 2026" in body and "Set target" in body
    assert "Save value" not in body  # bound to a metric
    manual = _client(client, books["admin"]).get(url("strategy_kpi_node", tree["manual"].pk)).content.decode()
    assert "Save value" in manual and "Values entered by hand" in manual


def test_build_bind_target_and_delete_through_the_pages(books, tree, client):  # noqa: F811
    client = _client(client, books["admin"])
    form = {
        "name": "SQLs", "description": "", "parent": tree["pipeline"].pk, "metric": "", "metric_params": "",
        "combine": "driver", "kind": "leading", "direction": "", "grain": "month", "owner": "",
    }  # fmt: skip
    assert client.get(url("strategy_kpi_node_new") + f"?parent={tree['pipeline'].pk}").status_code == 200
    response = client.post(url("strategy_kpi_node_new"), {**form, "metric": "arr"})
    assert response.status_code == 400 and "metric" in response.context["form"].errors
    response = client.post(url("strategy_kpi_node_new"), form)
    sqls = KpiNode.objects.get(organization=books["org"], name="SQLs")
    assert response.status_code == 302 and sqls.parent == tree["pipeline"] and sqls.metric == ""

    # Bind it to a catalogue metric, with parameters; a bad one names the field.
    edit = url("strategy_kpi_node_edit", sqls.pk)
    bound = {**form, "metric": "stage_conversion_period", "metric_params": "from_stage=mql\nto_stage=nope"}
    response = client.post(edit, bound)
    assert response.status_code == 400 and "metric_params" in response.context["form"].errors
    assert client.post(edit, {**bound, "metric_params": "from_stage=mql\nto_stage=sql"}).status_code == 302
    sqls.refresh_from_db()
    assert sqls.metric == "stage_conversion_period"
    assert sqls.metric_params == {"from_stage": "mql", "to_stage": "sql"}

    # A node cannot move under its own child: the child is not offered as a parent.
    response = client.post(url("strategy_kpi_node_edit", tree["pipeline"].pk),
                           {**form, "name": "Pipeline created", "parent": sqls.pk})  # fmt: skip
    assert response.status_code == 400 and "parent" in response.context["form"].errors

    # Targets: set, then remove with an empty value; a manual value for a manual node.
    assert client.post(
        url("strategy_kpi_node_target", sqls.pk), {"period_start": "2026-03-01", "value": "25"}
    )
    assert KpiTarget.objects.get(node=sqls).value == 25
    client.post(url("strategy_kpi_node_target", sqls.pk), {"period_start": "2026-03-01", "value": ""})
    assert not KpiTarget.objects.filter(node=sqls).exists()
    client.post(
        url("strategy_kpi_node_value", tree["manual"].pk), {"period_start": "2026-02-01", "value": "4"}
    )
    assert KpiValue.objects.filter(node=tree["manual"]).count() == 2
    response = client.post(
        url("strategy_kpi_node_value", sqls.pk), {"period_start": "2026-02-01", "value": "4"}
    )
    assert response.status_code == 302 and not KpiValue.objects.filter(node=sqls).exists()

    assert client.get(url("strategy_kpi_node_delete", tree["pipeline"].pk)).status_code == 405
    assert client.post(url("strategy_kpi_node_delete", tree["pipeline"].pk)).status_code == 302
    roots = KpiNode.objects.filter(organization=books["org"], parent=None)
    assert set(roots.values_list("name", flat=True)) == {"Opportunities created", "Partner referrals", "SQLs"}


def test_only_revops_leads_and_admins_edit(books, tree, client):  # noqa: F811
    lead = factories.make_member(books["org"], role=Role.REVOPS_LEAD)
    assert _client(client, lead).get(url("strategy_kpi_node_new")).status_code == 200
    pk = tree["opps"].pk
    for role in (Role.SALES_MANAGER, Role.MARKETER, Role.VIEWER, Role.SALES_REP):
        member = factories.make_member(books["org"], role=role)
        client = _client(client, member)
        detail = client.get(url("strategy_kpi_node", pk))
        assert detail.status_code == 200 and b"Set target" not in detail.content
        assert client.get(url("strategy_kpi_node_new")).status_code == 403
        assert client.get(url("strategy_kpi_node_edit", pk)).status_code == 403
        assert (
            client.post(url("strategy_kpi_node_target", pk), {"period_start": "2026-03-01"}).status_code
            == 403
        )
        assert client.post(url("strategy_kpi_node_delete", pk)).status_code == 403
    assert KpiNode.objects.filter(pk=pk).exists() and KpiTarget.objects.get(node_id=pk).value == 10


# --- API -----------------------------------------------------------------------------------------


def test_api_node_crud_targets_and_values(books, tree):  # noqa: F811
    api = api_client_for(books["org"])
    created = api.post(
        "/api/v1/kpi-nodes/",
        {"name": "Win rate", "metric": "win_rate", "parent": tree["pipeline"].pk, "owner": books["rep"].pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    win = created.json()
    assert (win["direction"], win["kind"], win["grain"], win["position"]) == ("higher", "lagging", "month", 2)
    march = {"period_start": "2026-03-01"}
    targets = api.post(f"/api/v1/kpi-nodes/{win['id']}/targets/", {**march, "value": "55"}, format="json")
    assert targets.status_code == 200 and targets.json() == [
        {"period_start": "2026-03-01", "value": "55.0000"}
    ]
    assert api.get(f"/api/v1/kpi-nodes/{win['id']}/targets/").json()[0]["value"] == "55.0000"
    tree_data = api.get("/api/v1/kpi-tree/").json()
    new = next(child for child in tree_data["nodes"][0]["children"] if child["name"] == "Win rate")
    assert (new["actual"], new["target"], new["status"]) == (50, 55, "at_risk")  # 1 won of 2 closed in March

    moved = api.patch(f"/api/v1/kpi-nodes/{tree['pipeline'].pk}/", {"parent": win["id"]}, format="json")
    assert moved.status_code == 400 and "parent" in moved.json()["error"]["fields"]
    moved = api.patch(f"/api/v1/kpi-nodes/{win['id']}/", {"parent": None, "position": 0}, format="json")
    assert moved.status_code == 200 and (moved.json()["parent"], moved.json()["position"]) == (None, 0)

    value = api.post(f"/api/v1/kpi-nodes/{tree['manual'].pk}/values/", {**march, "value": 6}, format="json")
    assert value.status_code == 201 and value.json()["value"] == "6.0000"
    refused = api.post(f"/api/v1/kpi-nodes/{win['id']}/values/", {**march, "value": 6}, format="json")
    assert refused.status_code == 400 and "metric" in refused.json()["error"]["fields"]

    listed = api.get("/api/v1/kpi-nodes/").json()["results"]
    names = {"Pipeline created", "Opportunities created", "Partner referrals", "Win rate"}
    assert {row["name"] for row in listed} == names
    assert api.delete(f"/api/v1/kpi-nodes/{tree['pipeline'].pk}/").status_code == 204
    assert KpiNode.objects.get(pk=tree["opps"].pk).parent_id is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"metric": "arr"}, "metric"),
        ({"metric": "romi", "metric_params": {"model": "guesswork"}}, "metric_params"),
        ({"owner": 999999}, "owner"),
        ({"parent": 999999}, "parent"),
        ({"kind": "sideways"}, "kind"),
        ({"grain": "week"}, "grain"),
        ({"colour": "red"}, "colour"),
        ({"name": ""}, "name"),
    ],
)
def test_api_errors_name_the_field(books, body, field):  # noqa: F811
    response = api_client_for(books["org"]).post(
        "/api/v1/kpi-nodes/", {"name": "Node", **body}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.content


def test_api_target_errors_name_the_field(books, tree):  # noqa: F811
    api = api_client_for(books["org"])
    targets = f"/api/v1/kpi-nodes/{tree['opps'].pk}/targets/"
    response = api.post(targets, {"period_start": "2026-03-02", "value": 1}, format="json")
    assert response.status_code == 400 and "period_start" in response.json()["error"]["fields"]
    response = api.post(targets, {"period_start": "2026-03-01", "value": -1}, format="json")
    assert response.status_code == 400 and "value" in response.json()["error"]["fields"]


def test_a_read_key_cannot_write(books, tree):  # noqa: F811
    api = api_client_for(books["org"], scopes=("read",))
    assert api.get("/api/v1/kpi-tree/").status_code == 200
    assert api.post("/api/v1/kpi-nodes/", {"name": "Nope"}, format="json").status_code == 403
