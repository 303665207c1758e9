"""Factories build rows through the real services wherever a service exists."""

import itertools

from apps.accounts import services as account_services
from apps.accounts.models import Membership, Organization, User
from apps.accounts.roles import Role

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"


def make_user(*, email=None, password=PASSWORD, full_name="") -> User:
    n = next(_seq)
    return account_services.user_create(
        email=email or f"person{n}@example.com", password=password, full_name=full_name or f"Person {n}"
    )


def make_org(*, name=None, owner=None, **fields) -> Organization:
    n = next(_seq)
    owner = owner or make_user()
    return account_services.organization_create(name=name or f"Org {n}", owner=owner, **fields)


def make_member(org, *, role=Role.VIEWER, user=None) -> Membership:
    user = user or make_user()
    return Membership.objects.create(organization=org, user=user, role=role)


def make_api_key(org, *, scopes=("read", "write"), name="Integration"):
    return account_services.api_key_create(org=org, name=name, scopes=scopes)
