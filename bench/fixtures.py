"""Benchmark fixtures, made idempotently through the real services.

Run as `python -m bench.fixtures [--org SLUG]` with the bench settings; prints
JSON with a fresh read API key for the organisation (`bench` by default,
created if missing) and how many leads it holds. The secret of a key is only
known when it is created, so every run revokes the organisation's previous
bench keys and makes one.

`python -m bench.fixtures --routing routing|race|sla --org SLUG` builds a routing
organisation instead (see `routing_org`, `race_org`, `sla_org`) and prints its
JSON, with a read and write key.
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


# --- Routing and SLAs ------------------------------------------------------------------------

# Reps work around the clock, so that no benchmark depends on the hour it runs at.
ALWAYS_OPEN = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
# Accounts of the routing organisation, each owned by a rep: leads at these
# domains are matched to them and go to their owner.
ACCOUNTS = 20
TERRITORIES = (("US", "CA"), ("DE", "FR", "GB", "NL"), ("JP", "AU", "SG"))
SLA_POLICY = {"name": "Accept within 15 minutes", "target_minutes": 15, "remind_at": 10}


def _routing_base(org_slug: str, *, reps: int):
    """A new organisation (the slug must be free), `reps` sales reps and a read/write key."""
    from apps.accounts import services
    from apps.accounts.models import Membership, Organization, User
    from apps.accounts.roles import Role

    if Organization.objects.filter(slug=org_slug).exists():
        raise SystemExit(f"{org_slug} exists: routing benchmarks start from a new organisation")
    owner = User.objects.filter(email=EMAIL).first() or services.user_create(
        email=EMAIL, full_name="Benchmark"
    )
    org = services.organization_create(name=f"Benchmark {org_slug}", owner=owner, slug=org_slug)
    members = []
    for n in range(1, reps + 1):
        email = f"rep{n:02d}@bench.invalid"  # shared by every routing organisation, as consultants are
        user = User.objects.filter(email=email).first() or services.user_create(
            email=email, full_name=f"Bench Rep {n:02d}"
        )
        members.append(Membership.objects.create(organization=org, user=user, role=Role.SALES_REP))
    _, raw = services.api_key_create(org=org, name="bench", scopes=["read", "write"], created_by=owner)
    return org, owner, members, raw


def _pool(org, name: str, strategy: str, members, *, weights=None, territories=None):
    from apps.execution.models import PoolMember, RoutingPool

    pool = RoutingPool.objects.create(organization=org, name=name, strategy=strategy)
    PoolMember.objects.bulk_create(
        [
            PoolMember(
                organization=org,
                pool=pool,
                membership=member,
                weight=weights[i] if weights else 1,
                territories=list(territories[i]) if territories else [],
            )
            for i, member in enumerate(members)
        ]
    )
    return pool


def _publish(org, owner, rules, fallback):
    from apps.execution.services import policies

    policy = policies.policy_for(org)
    policies.draft_update(org=org, policy=policy, rules=rules, fallback_pool=fallback, actor=owner)
    return policies.policy_publish(org=org, policy=policy, actor=owner, note="benchmark")


def _sla_policy(org):
    from apps.execution.models import SlaPolicy
    from apps.execution.models.sla import Clock, Step
    from apps.execution.services import sla

    target = SLA_POLICY["target_minutes"]
    return SlaPolicy.objects.create(
        organization=org,
        name=SLA_POLICY["name"],
        clock=Clock.ACCEPT,
        target_minutes=target,
        escalation=sla.clean_escalation(
            target_minutes=target, steps=[{"at_minutes": SLA_POLICY["remind_at"], "action": Step.REMIND}]
        ),
    )


def routing_org(org_slug: str) -> dict:
    """Twelve reps, four pools and a published five-rule lead policy, with an active SLA.

    1. "Named accounts": the lead's matched account has an owner → that owner
       (the account-owner action), else the inbound round robin;
    2. "Partner referrals": source is Partner → the weighted partner pool;
    3. "Regional": country in a territory → the territory pool;
    4. "Executives": title contains VP → the weighted partner pool;
    5. "Inbound web": source is Google Ads, Organic Search or Webinar → the round robin;
    everything else: the fallback pool. SLA: accept within 15 minutes, remind at 10.
    """
    from apps.execution.routing import types
    from apps.records.services import account_create

    org, owner, reps, raw = _routing_base(org_slug, reps=12)
    inbound = _pool(org, "Inbound SDRs", types.ROUND_ROBIN, reps[0:4])
    partner = _pool(org, "Partner AEs", types.WEIGHTED, reps[4:7], weights=[3, 2, 1])
    regional = _pool(org, "Regional AEs", types.TERRITORY, reps[7:10], territories=TERRITORIES)
    overflow = _pool(org, "Overflow", types.ROUND_ROBIN, reps[10:12])
    for n in range(ACCOUNTS):
        account_create(
            org=org, name=f"Account {n:02d}", domain=f"acct{n:02d}.example.com", owner=reps[4 + n % 6]
        )
    countries = [country for territory in TERRITORIES for country in territory]
    rules = [
        {
            "name": "Named accounts",
            "conditions": [{"field": "account.has_owner", "op": "equals", "value": True}],
            "action": {"type": types.ASSIGN_ACCOUNT_OWNER, "pool": inbound.pk},
        },
        {
            "name": "Partner referrals",
            "conditions": [{"field": "source", "op": "equals", "value": "Partner"}],
            "action": {"type": types.ASSIGN_POOL, "pool": partner.pk},
        },
        {
            "name": "Regional",
            "conditions": [{"field": "country", "op": "in", "value": countries}],
            "action": {"type": types.ASSIGN_POOL, "pool": regional.pk},
        },
        {
            "name": "Executives",
            "conditions": [{"field": "title", "op": "contains", "value": "VP"}],
            "action": {"type": types.ASSIGN_POOL, "pool": partner.pk},
        },
        {
            "name": "Inbound web",
            "conditions": [
                {"field": "source", "op": "in", "value": ["Google Ads", "Organic Search", "Webinar"]}
            ],
            "action": {"type": types.ASSIGN_POOL, "pool": inbound.pk},
        },
    ]
    _publish(org, owner, rules, overflow)
    _sla_policy(org)
    return {"org": org.slug, "org_id": org.pk, "api_key": raw, "accounts": ACCOUNTS, "countries": countries}


def race_org(org_slug: str, *, cap: int) -> dict:
    """Six reps in one round-robin pool (the policy's only rule and its fallback); the
    first rep is capped at `cap` leads a day and `cap` open leads. No SLA."""
    from apps.execution.models import RepProfile
    from apps.execution.routing import types

    org, owner, reps, raw = _routing_base(org_slug, reps=6)
    pool = _pool(org, "Inbound SDRs", types.ROUND_ROBIN, reps)
    RepProfile.objects.create(
        organization=org, membership=reps[0], hours=ALWAYS_OPEN, daily_cap=cap, open_cap=cap
    )
    rules = [{"name": "Everyone", "conditions": [], "action": {"type": types.ASSIGN_POOL, "pool": pool.pk}}]
    _publish(org, owner, rules, pool)
    return {"org": org.slug, "org_id": org.pk, "api_key": raw, "pool": pool.pk, "capped": reps[0].pk}


def sla_org(org_slug: str) -> dict:
    """Four reps in a round robin that takes every lead, and the SLA of `routing_org`."""
    from apps.execution.routing import types

    org, owner, reps, raw = _routing_base(org_slug, reps=4)
    pool = _pool(org, "Inbound SDRs", types.ROUND_ROBIN, reps)
    rules = [{"name": "Everyone", "conditions": [], "action": {"type": types.ASSIGN_POOL, "pool": pool.pk}}]
    _publish(org, owner, rules, pool)
    _sla_policy(org)
    return {"org": org.slug, "org_id": org.pk, "api_key": raw, "pool": pool.pk}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--org", default=ORG_SLUG)
    parser.add_argument("--routing", choices=["routing", "race", "sla"])
    parser.add_argument("--cap", type=int, default=100, help="race: the capped rep's caps")
    args = parser.parse_args()
    django.setup()
    if args.routing == "routing":
        print(json.dumps(routing_org(args.org)))
    elif args.routing == "race":
        print(json.dumps(race_org(args.org, cap=args.cap)))
    elif args.routing == "sla":
        print(json.dumps(sla_org(args.org)))
    else:
        print(json.dumps(bench_api_key(args.org)))
