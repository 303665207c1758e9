"""The people of the demo organisation. Idempotent: running it twice changes nothing."""

from apps.accounts import services
from apps.accounts.models import Membership, Organization, Team, User
from apps.accounts.roles import Role

DEMO_PASSWORD = "revops-demo-2026"
DEMO_ORG_SLUG = "northwind"

# (e-mail, full name, role, team)
PEOPLE = [
    ("admin@northwind.example", "Ada Admin", Role.ADMIN, None),
    ("revops@northwind.example", "Rita Revops", Role.REVOPS_LEAD, None),
    ("marketer@northwind.example", "Mark Marketer", Role.MARKETER, "Demand generation"),
    ("manager@northwind.example", "Sam Manager", Role.SALES_MANAGER, "Inbound SDR"),
    ("rep@northwind.example", "Riley Rep", Role.SALES_REP, "Inbound SDR"),
    ("rep2@northwind.example", "Jordan Rep", Role.SALES_REP, "Inbound SDR"),
    ("ae@northwind.example", "Alex Account-Exec", Role.SALES_REP, "Enterprise AE"),
    ("csm@northwind.example", "Casey Success", Role.SALES_REP, "Customer success"),
    ("viewer@northwind.example", "Vic Viewer", Role.VIEWER, None),
]

TEAMS = [
    ("Inbound SDR", Team.Kind.SALES, "manager@northwind.example"),
    ("Enterprise AE", Team.Kind.SALES, "manager@northwind.example"),
    ("Customer success", Team.Kind.CUSTOMER_SUCCESS, None),
    ("Demand generation", Team.Kind.MARKETING, "marketer@northwind.example"),
]


def _user(email, full_name):
    user = User.objects.filter(email=email).first()
    if user is None:
        user = services.user_create(email=email, password=DEMO_PASSWORD, full_name=full_name)
    return user


def seed_people() -> Organization:
    admin = _user(*PEOPLE[0][:2])
    org = Organization.objects.filter(slug=DEMO_ORG_SLUG).first()
    if org is None:
        org = services.organization_create(
            name="Northwind Analytics",
            slug=DEMO_ORG_SLUG,
            owner=admin,
            time_zone="America/New_York",
            currency="USD",
            fiscal_year_start_month=2,
        )
    memberships = {}
    for email, name, role, _team in PEOPLE:
        user = _user(email, name)
        membership, _ = Membership.objects.get_or_create(organization=org, user=user, defaults={"role": role})
        memberships[email] = membership
    for name, kind, manager_email in TEAMS:
        team = Team.objects.for_org(org).filter(name=name).first()
        members = [memberships[e] for e, _n, _r, t in PEOPLE if t == name]
        if team is None:
            services.team_create(
                org=org,
                name=name,
                kind=kind,
                manager=memberships.get(manager_email),
                members=members,
            )
    # A second organisation, so the switcher has somewhere to go.
    if not Organization.objects.filter(slug="northwind-emea").exists():
        services.organization_create(
            name="Northwind EMEA",
            slug="northwind-emea",
            owner=admin,
            time_zone="Europe/London",
            currency="EUR",
        )
    return org
