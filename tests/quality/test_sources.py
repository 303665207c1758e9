"""Source mappings: CRUD, applied on ingest, re-applied to history with the ingest precedence."""

import pytest

from apps.core.errors import ServiceError
from apps.quality import selectors, services
from apps.quality.models import QualityJob
from apps.records import services as records
from apps.records.models import Lead, SourceMapping

pytestmark = pytest.mark.django_db


def channels(org):
    return dict(Lead.objects.for_org(org).values_list("email", "channel"))


def test_create_normalises_and_refuses_duplicates(org):
    mapping = services.source_mapping_create(
        org=org, raw_value="  LinkedIn   Ads ", channel=" Paid  Social ", source_name="LinkedIn"
    )
    assert (mapping.raw_value, mapping.channel, mapping.source_name) == (
        "linkedin ads",
        "Paid Social",
        "LinkedIn",
    )
    with pytest.raises(ServiceError) as error:
        services.source_mapping_create(org=org, raw_value="linkedin ads", channel="Social")
    assert error.value.field == "raw_value"
    with pytest.raises(ServiceError) as error:
        services.source_mapping_create(org=org, raw_value="x", channel="  ")
    assert error.value.field == "channel"


def test_update_and_delete(org, other_org):
    mapping = services.source_mapping_create(org=org, raw_value="li", channel="Paid Social")
    services.source_mapping_update(org=org, mapping=mapping, channel="Organic Social")
    mapping.refresh_from_db()
    assert mapping.channel == "Organic Social"
    with pytest.raises(ServiceError):
        services.source_mapping_delete(org=other_org, mapping=mapping)
    services.source_mapping_delete(org=org, mapping=mapping)
    assert not SourceMapping.objects.exists()


def test_mapping_applies_on_ingest_with_source_then_utm_precedence(org, make_lead):
    services.source_mapping_create(org=org, raw_value="li", channel="Paid Social", source_name="LinkedIn")
    services.source_mapping_create(org=org, raw_value="LinkedIn Ads", channel="Paid Social")
    services.source_mapping_create(org=org, raw_value="cpc", channel="Paid Search")
    make_lead(email="a@x.test", source="LI")
    make_lead(email="b@x.test", source="unknown", utm_source="linkedin ads", utm_medium="cpc")
    make_lead(email="c@x.test", utm_medium="CPC")
    make_lead(email="d@x.test", source="nothing")
    assert channels(org) == {
        "a@x.test": "Paid Social",
        "b@x.test": "Paid Social",
        "c@x.test": "Paid Search",
        "d@x.test": "",
    }


def test_reapply_rewrites_history_and_counts_changed_rows(org, other_org, make_lead):
    a = make_lead(email="a@x.test", source="li")
    make_lead(email="b@x.test", source="newsletter")
    make_lead(email="c@x.test", utm_source="li", utm_medium="cpc")
    make_lead(email="d@x.test", source="web")
    theirs = make_lead(other_org, email="z@globex.test", source="li")
    tp_mapped = records.touchpoint_create(org=org, lead=a, source="li")
    tp_explicit = records.touchpoint_create(org=org, lead=a, source="webinar", channel="Events")
    assert set(channels(org).values()) == {""}

    services.source_mapping_create(org=org, raw_value="li", channel="Paid Social")
    services.source_mapping_create(org=org, raw_value="newsletter", channel="Email")
    assert services.sources_reapply(org=org, batch_size=2) == {"leads": 3, "touchpoints": 1}
    assert channels(org) == {
        "a@x.test": "Paid Social",
        "b@x.test": "Email",
        "c@x.test": "Paid Social",
        "d@x.test": "",
    }
    tp_mapped.refresh_from_db()
    tp_explicit.refresh_from_db()
    assert (tp_mapped.channel, tp_explicit.channel) == ("Paid Social", "Events")
    theirs.refresh_from_db()
    assert theirs.channel == ""  # another organisation's mapping table, another organisation's rows

    # Nothing left to change: a second run updates no row.
    assert services.sources_reapply(org=org) == {"leads": 0, "touchpoints": 0}

    # A removed mapping clears the leads' channel; touchpoints keep theirs (it may have been sent).
    services.source_mapping_delete(org=org, mapping=SourceMapping.objects.get(raw_value="newsletter"))
    assert services.sources_reapply(org=org) == {"leads": 1, "touchpoints": 0}
    assert channels(org)["b@x.test"] == ""


def test_reapply_reports_progress(org, make_lead):
    for n in range(5):
        make_lead(email=f"{n}@x.test", source="li")
    services.source_mapping_create(org=org, raw_value="li", channel="Paid Social")
    seen = []
    services.sources_reapply(org=org, batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and len(seen) >= 3


def test_reapply_job_is_queued_once_and_claimed_once(
    org, owner, make_lead, django_capture_on_commit_callbacks
):
    make_lead(email="a@x.test", source="li")
    services.source_mapping_create(org=org, raw_value="li", channel="Paid Social")
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.sources_reapply_request(org=org, actor=owner)
        again = services.sources_reapply_request(org=org, actor=owner)
    assert job.pk == again.pk and len(callbacks) == 1

    from apps.quality.tasks import run_job

    assert run_job(org.pk, job.pk) == {"leads": 1, "touchpoints": 0}
    assert run_job(org.pk, job.pk) is None  # already claimed: nothing happens twice
    job.refresh_from_db()
    assert (job.status, job.percent, job.result) == (
        QualityJob.Status.DONE,
        100,
        {"leads": 1, "touchpoints": 0},
    )


def test_unmapped_sources_lists_values_without_a_mapping(org, make_lead):
    a = make_lead(email="a@x.test", source="LI", utm_source="li", utm_medium="cpc")
    make_lead(email="b@x.test", source="li ")
    make_lead(email="c@x.test", source="Web")
    records.touchpoint_create(org=org, lead=a, source="li", utm_medium="cpc")
    services.source_mapping_create(org=org, raw_value="web", channel="Direct")

    rows, total = selectors.unmapped_sources(org=org)
    assert total == 2
    assert [(r.value, r.uses, r.fields) for r in rows] == [
        ("li", 4, ["source", "utm_source"]),
        ("cpc", 2, ["utm_medium"]),
    ]
    rows, total = selectors.unmapped_sources(org=org, limit=1)
    assert len(rows) == 1 and total == 2
