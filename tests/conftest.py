"""Shared fixtures: the owner / member / outsider trio and API clients.

`org` is the organisation under test, owned by `owner` (an admin); `members`
holds one member per role; `outsider` is an admin of `other_org`, a second
organisation with data of its own, who must never see `org`'s.
"""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.roles import Role
from tests import factories


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle counters and rate limits live in Redis; start every test clean.
    cache.clear()
    yield


@pytest.fixture
def owner(db):
    return factories.make_user(email="owner@acme.test", full_name="Olivia Owner")


@pytest.fixture
def org(owner):
    return factories.make_org(name="Acme", owner=owner, slug="acme")


@pytest.fixture
def members(org):
    """One membership per role (besides the owner, who is an admin)."""
    return {role: factories.make_member(org, role=role) for role in Role}


@pytest.fixture
def outsider(db):
    return factories.make_user(email="outsider@globex.test", full_name="Oscar Outsider")


@pytest.fixture
def other_org(outsider):
    return factories.make_org(name="Globex", owner=outsider, slug="globex")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(client, outsider, other_org):
    client.force_login(outsider)
    return client


def api_client_for(org, scopes=("read", "write")):
    _, raw = factories.make_api_key(org, scopes=scopes)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


@pytest.fixture
def api(org):
    return api_client_for(org)


@pytest.fixture
def outsider_api(other_org):
    return api_client_for(other_org)
