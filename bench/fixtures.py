"""Benchmark fixtures, made idempotently through the real services.

Run as `python -m bench.fixtures [--org SLUG]` with the bench settings; prints
JSON with a fresh read API key for the organisation (`bench` by default,
created if missing) and how many leads it holds. The secret of a key is only
known when it is created, so every run revokes the organisation's previous
bench keys and makes one.
"""

import argparse
import json

import django

EMAIL = "bench@bench.invalid"
ORG_SLUG = "bench"


def bench_api_key(org_slug: str = ORG_SLUG) -> dict:
    from apps.accounts import services
    from apps.accounts.models import ApiKey, Organization, User
    from apps.records.models import Lead

    user = User.objects.filter(email=EMAIL).first() or services.user_create(
        email=EMAIL, full_name="Benchmark"
    )
    org = Organization.objects.filter(slug=org_slug).first() or services.organization_create(
        name=f"Benchmark {org_slug}", owner=user, slug=org_slug
    )
    for old in ApiKey.objects.for_org(org).filter(revoked_at__isnull=True):
        services.api_key_revoke(org=org, key=old)
    _, raw = services.api_key_create(org=org, name="bench", scopes=["read"], created_by=user)
    return {
        "org": org.slug,
        "org_id": org.pk,
        "api_key": raw,
        "leads": Lead.objects.for_org(org).count(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--org", default=ORG_SLUG)
    args = parser.parse_args()
    django.setup()
    print(json.dumps(bench_api_key(args.org)))
