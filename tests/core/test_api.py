"""The API's contract: key authentication, scopes, one error shape, pagination, quotas."""

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import ApiKey, Team
from apps.audit.models import SecurityEvent
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


def assert_error(response, status, code=None, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    if field:
        assert field in body["error"]["fields"], body
    return body["error"]


def test_organization_endpoint_resolves_the_org_from_the_key(api, org):
    response = api.get("/api/v1/organization/")
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"
    assert response.json()["api_key"]["scopes"] == ["read", "write"]


def test_missing_key_is_401_in_the_error_shape(client):
    assert_error(client.get("/api/v1/organization/"), 401, code="not_authenticated")


@pytest.mark.parametrize(
    "header",
    ["Bearer nope", "Bearer rvk_abc_def", "Token rvk_abc_def", "Bearer ", "Basic dXNlcjpwYXNz"],
)
def test_bad_keys_are_401(org, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get("/api/v1/organization/"), 401)


def test_right_prefix_wrong_secret_is_401(org):
    key, _raw = factories.make_api_key(org)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer rvk_{key.prefix}_{'x' * 43}")
    assert_error(client.get("/api/v1/organization/"), 401, code="authentication_failed")


def test_revoked_and_expired_keys_are_401(org, owner):
    revoked, raw_revoked = factories.make_api_key(org)
    services.api_key_revoke(org=org, key=revoked, actor=owner)
    expired, raw_expired = factories.make_api_key(org)
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for raw, word in ((raw_revoked, "revoked"), (raw_expired, "expired")):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        error = assert_error(client.get("/api/v1/organization/"), 401)
        assert word in error["message"]


def test_revoking_a_cached_key_takes_effect_at_once(org, owner, django_capture_on_commit_callbacks):
    key, raw = factories.make_api_key(org)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/organization/").status_code == 200  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(org=org, key=key, actor=owner)
    assert_error(client.get("/api/v1/organization/"), 401)


def test_read_only_key_cannot_write(org):
    read_only = api_client_for(org, scopes=("read",))
    assert read_only.get("/api/v1/teams/").status_code == 200
    error = assert_error(read_only.post("/api/v1/teams/", {"name": "Pod"}, format="json"), 403)
    assert "write" in error["message"]
    assert not Team.objects.for_org(org).exists()


def test_write_only_key_cannot_read(org):
    write_only = api_client_for(org, scopes=("write",))
    assert_error(write_only.get("/api/v1/teams/"), 403)


def test_key_use_is_stamped(org):
    key, raw = factories.make_api_key(org)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.get("/api/v1/organization/")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_key_is_stored_only_as_a_hash(org):
    key, raw = factories.make_api_key(org)
    secret = raw.split("_", 2)[2]
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())


def test_failed_api_authentication_is_in_the_security_log(org):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer rvk_deadbeef_nope")
    client.get("/api/v1/organization/")
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.API_AUTH_FAILED).exists()


def test_malformed_json_is_400_not_500(api):
    response = api.generic("POST", "/api/v1/teams/", "{not json", content_type="application/json")
    assert_error(response, 400, code="parse_error")


def test_wrong_types_name_the_field(api, org):
    error = assert_error(
        api.post("/api/v1/teams/", {"name": "Pod", "members": "x"}, format="json"), 400, field="members"
    )
    assert error["code"] == "validation_error"
    assert not Team.objects.for_org(org).exists()


def test_unknown_fields_are_refused(api, org):
    error = assert_error(
        api.post("/api/v1/teams/", {"name": "Pod", "colour": "red"}, format="json"), 400, field="colour"
    )
    assert error["fields"]["colour"] == ["Unknown field."]
    assert not Team.objects.for_org(org).exists()


def test_non_object_body_is_refused(api, org):
    assert_error(api.post("/api/v1/teams/", [1, 2], format="json"), 400)
    assert not Team.objects.for_org(org).exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversized_body_is_413(api, org):
    body = json.dumps({"name": "x" * 5000})
    assert_error(api.generic("POST", "/api/v1/teams/", body, content_type="application/json"), 413)
    assert not Team.objects.for_org(org).exists()


def test_unsupported_media_type_is_415(api):
    response = api.generic(
        "POST", "/api/v1/teams/", "name=x", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415)


def test_unknown_route_is_404_json(api):
    assert_error(api.get("/api/v1/nothing-here/"), 404, code="not_found")


def test_service_errors_name_the_field(api, org):
    services.team_create(org=org, name="Pod")
    assert_error(
        api.post("/api/v1/teams/", {"name": "pod"}, format="json"), 400, code="duplicate", field="name"
    )


def test_team_crud(api, org, members):
    from apps.accounts.roles import Role

    rep = members[Role.SALES_REP]
    manager = members[Role.SALES_MANAGER]
    created = api.post(
        "/api/v1/teams/", {"name": "Inbound", "manager": manager.pk, "members": [rep.pk]}, format="json"
    )
    assert created.status_code == 201, created.content
    team_id = created.json()["id"]
    assert created.json()["members"] == [rep.pk]
    updated = api.patch(f"/api/v1/teams/{team_id}/", {"name": "Inbound SDR", "members": []}, format="json")
    assert updated.status_code == 200
    assert updated.json()["name"] == "Inbound SDR"
    assert updated.json()["members"] == []
    assert api.delete(f"/api/v1/teams/{team_id}/").status_code == 204
    assert not Team.objects.for_org(org).exists()


def test_team_members_must_belong_to_the_org(api, org, other_org):
    stranger = factories.make_member(other_org)
    error = assert_error(
        api.post("/api/v1/teams/", {"name": "Pod", "members": [stranger.pk]}, format="json"), 400
    )
    assert "members" in error["fields"]
    assert not Team.objects.for_org(org).exists()


def test_cursor_pagination_walks_every_row_once(api, org):
    for n in range(7):
        services.team_create(org=org, name=f"Team {n}")
    seen, url = [], "/api/v1/teams/?page_size=3"
    while url:
        body = api.get(url).json()
        seen += [row["name"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(f"Team {n}" for n in range(7))
    assert len(seen) == 7


def test_list_query_count_does_not_grow_with_rows(api, org, django_assert_max_num_queries):
    for n in range(30):
        services.team_create(org=org, name=f"Team {n}")
    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/teams/?page_size=50")
    assert len(response.json()["results"]) == 30


def test_quota_throttles_per_key(org, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"}}
    limited = api_client_for(org)
    other = api_client_for(org)
    codes = [limited.get("/api/v1/organization/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert_error(limited.get("/api/v1/organization/"), 429, code="throttled")
    assert other.get("/api/v1/organization/").status_code == 200


def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/teams/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
