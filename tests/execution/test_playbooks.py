"""Playbooks: the safe Markdown subset, the services, the pages (and the lead
page showing its stage's playbook) and the API."""

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution import markdown
from apps.execution.models import Playbook
from apps.execution.services import playbooks
from apps.records import services as records
from apps.records.models import LifecycleStage


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


# --- Markdown (pure) ---------------------------------------------------------------------------------


def test_markdown_subset():
    html = markdown.render(
        "# Call first\nRead the **hand-off** and the *notes*.\nThen `log` it.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n[Guide](https://example.test/guide)"
    )
    assert "<h3>Call first</h3>" in html
    assert (
        "<p>Read the <strong>hand-off</strong> and the <em>notes</em>.<br>Then <code>log</code> it.</p>"
        in html
    )
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert "<ol><li>first</li><li>second</li></ol>" in html
    assert '<a href="https://example.test/guide" rel="nofollow noopener">Guide</a>' in html


def test_markdown_escapes_html_and_refuses_script_links():
    html = markdown.render('<script>alert(1)</script> <img src=x onerror="y">\n[click](javascript:alert(1))')
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "href" not in html  # a javascript: link stays text


# --- Services ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_playbook_is_attached_to_a_stage_or_a_campaign_type(org):
    with pytest.raises(ServiceError) as error:
        playbooks.playbook_create(org=org, title="Loose", body="Steps")
    assert error.value.field == "stage"
    with pytest.raises(ServiceError) as error:
        playbooks.playbook_create(org=org, title="Bad", body="Steps", campaign_type="carrier-pigeon")
    assert error.value.field == "campaign_type"
    mql = LifecycleStage.objects.for_org(org).get(key="mql")
    playbook = playbooks.playbook_create(org=org, title="MQL", body="Call", stage=mql)
    playbooks.playbook_update(org=org, playbook=playbook, title="Working an MQL")
    assert list(playbooks.playbooks_for_stage(org=org, stage=mql)) == [playbook]
    assert playbook.title == "Working an MQL" and playbook.body == "Call"


@pytest.mark.django_db
def test_another_orgs_stage_is_refused(org, other_org):
    theirs = LifecycleStage.objects.for_org(other_org).get(key="mql")
    with pytest.raises(ServiceError) as error:
        playbooks.playbook_create(org=org, title="X", body="Y", stage=theirs)
    assert error.value.field == "stage"


# --- Pages -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_operators_write_playbooks_and_everyone_reads_them(client, org, members):
    mql = LifecycleStage.objects.for_org(org).get(key="mql")
    client.force_login(members[Role.REVOPS_LEAD].user)
    assert "No playbook yet" in client.get(url("execution_playbooks", org)).content.decode()
    response = client.post(
        url("execution_playbook_new", org),
        {"title": "Working an MQL", "stage": mql.pk, "campaign_type": "", "body": "1. **Call** <b>now</b>"},
    )
    assert response.status_code == 302
    playbook = Playbook.objects.for_org(org).get()
    client.post(
        url("execution_playbook_edit", org, playbook.pk),
        {
            "title": "Working an MQL",
            "stage": mql.pk,
            "campaign_type": "webinar",
            "body": "1. **Call** <b>now</b>",
        },
    )
    playbook.refresh_from_db()
    assert playbook.campaign_type == "webinar"
    client.force_login(members[Role.VIEWER].user)
    page = client.get(url("execution_playbook", org, playbook.pk)).content.decode()
    assert "<ol><li><strong>Call</strong> &lt;b&gt;now&lt;/b&gt;</li></ol>" in page
    assert "Webinar" in client.get(url("execution_playbooks", org)).content.decode()
    assert client.get(url("execution_playbook_new", org)).status_code == 403
    assert client.post(url("execution_playbook_delete", org, playbook.pk)).status_code == 403


@pytest.mark.django_db
def test_the_lead_page_shows_the_playbook_of_its_stage(owner_client, org):
    mql = LifecycleStage.objects.for_org(org).get(key="mql")
    playbooks.playbook_create(org=org, title="Working an MQL", body="Call within the hour.", stage=mql)
    lead = records.lead_create(org=org, email="ann@acme.test", stage="mql")
    other = records.lead_create(org=org, email="bo@acme.test", stage="inquiry")
    page = owner_client.get(reverse("records_lead", args=[org.slug, lead.pk])).content.decode()
    assert "Playbook for MQL" in page and "Call within the hour." in page
    page = owner_client.get(reverse("records_lead", args=[org.slug, other.pk])).content.decode()
    assert "Playbook for" not in page


@pytest.mark.django_db
def test_an_empty_form_says_what_is_missing(client, org, members):
    client.force_login(members[Role.ADMIN].user)
    response = client.post(url("execution_playbook_new", org), {"title": "X", "body": "Y"})
    assert response.status_code == 400
    assert "Attach it to a stage or a campaign type" in response.content.decode()


# --- API ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_crud(api, org):
    response = api.post(
        "/api/v1/playbooks/",
        {"title": "Webinars", "body": "# Before", "campaign_type": "webinar"},
        format="json",
    )
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert response.json()["stage"] is None
    response = api.patch(f"/api/v1/playbooks/{pk}/", {"stage": "sal"}, format="json")
    assert response.json()["stage"] == "sal"
    response = api.patch(f"/api/v1/playbooks/{pk}/", {"stage": "nope"}, format="json")
    assert response.status_code == 400 and "stage" in response.json()["error"]["fields"]
    assert [row["title"] for row in api.get("/api/v1/playbooks/").json()["results"]] == ["Webinars"]
    assert api.delete(f"/api/v1/playbooks/{pk}/").status_code == 204
    assert not Playbook.objects.filter(pk=pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("n", [1, 6])
def test_list_queries_do_not_grow(owner_client, api, org, n, django_assert_max_num_queries):
    stage = LifecycleStage.objects.for_org(org).get(key="sal")
    for i in range(n):
        playbooks.playbook_create(org=org, title=f"Book {i}", body="Steps", stage=stage)
    with django_assert_max_num_queries(7):
        assert owner_client.get(url("execution_playbooks", org)).content.decode().count("Book ") == n
    with django_assert_max_num_queries(7):
        assert len(api.get("/api/v1/playbooks/").json()["results"]) == n
