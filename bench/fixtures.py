"""Benchmark fixtures, made idempotently through the real services.

Run as `python -m bench.fixtures` with the bench settings; prints JSON with a
fresh API key for the bench organisation. The secret of a key is only known
when it is created, so every run revokes the previous bench keys and makes one.
"""

import json

import django

EMAIL = "bench@bench.invalid"
ORG_SLUG = "bench"


def bench_api_key() -> dict:
    from apps.accounts import services
    from apps.accounts.models import ApiKey, Organization, User

    user = User.objects.filter(email=EMAIL).first() or services.user_create(
        email=EMAIL, full_name="Benchmark"
    )
    org = Organization.objects.filter(slug=ORG_SLUG).first() or services.organization_create(
        name="Benchmark", owner=user, slug=ORG_SLUG
    )
    for old in ApiKey.objects.for_org(org).filter(revoked_at__isnull=True):
        services.api_key_revoke(org=org, key=old)
    _, raw = services.api_key_create(org=org, name="bench", scopes=["read"], created_by=user)
    return {"org": org.slug, "api_key": raw}


if __name__ == "__main__":
    django.setup()
    print(json.dumps(bench_api_key()))
