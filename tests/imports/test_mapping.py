"""Automatic column mapping: HubSpot and Salesforce exports, custom fields, unmapped columns."""

import pytest

from apps.imports.mapping import auto_map, catalogue, check_mapping, header_key
from apps.records.models import CustomField

HUBSPOT_CONTACTS = [
    "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number", "Job Title",
    "Company Name", "Country/Region", "Original Source", "Original Source Drill-Down 1", "Lifecycle Stage",
    "Create Date", "Contact owner", "Lead Status", "HubSpot Score",
]  # fmt: skip
SALESFORCE_LEADS = [
    "Lead ID", "First Name", "Last Name", "Title", "Company", "Email", "Phone", "Lead Source", "Country",
    "Lead Status", "Rating", "Created Date", "Lead Owner", "Industry",
]  # fmt: skip
SALESFORCE_ACCOUNTS = [
    "Account ID", "Account Name", "Website", "Industry", "Employees", "Annual Revenue", "Billing Country",
    "Billing State/Province", "Type", "Account Owner",
]  # fmt: skip
HUBSPOT_COMPANIES = [
    "Record ID", "Company name", "Company Domain Name", "Industry", "Number of Employees", "Annual Revenue",
    "Country/Region", "State/Region", "Company owner",
]  # fmt: skip


def as_dict(headers, mapping):
    return {header: field for header, field in zip(headers, mapping, strict=True)}


def test_hubspot_contacts_export():
    mapping = as_dict(HUBSPOT_CONTACTS, auto_map(HUBSPOT_CONTACTS, object_type="lead", customs=[]))
    assert mapping == {
        "Record ID": "external_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
        "Mobile Phone Number": "",  # phone is taken by the better match
        "Job Title": "title",
        "Company Name": "company",
        "Country/Region": "country",
        "Original Source": "source",
        "Original Source Drill-Down 1": "",
        "Lifecycle Stage": "stage",
        "Create Date": "captured_at",
        "Contact owner": "",
        "Lead Status": "",
        "HubSpot Score": "score",
    }


def test_salesforce_leads_export():
    mapping = as_dict(SALESFORCE_LEADS, auto_map(SALESFORCE_LEADS, object_type="lead", customs=[]))
    assert mapping == {
        "Lead ID": "external_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "title",
        "Company": "company",
        "Email": "email",
        "Phone": "phone",
        "Lead Source": "source",
        "Country": "country",
        "Lead Status": "",  # a sales status, not a lifecycle stage
        "Rating": "",
        "Created Date": "captured_at",
        "Lead Owner": "",
        "Industry": "",
    }


def test_salesforce_data_loader_api_names():
    headers = ["Id", "FirstName", "LastName", "Email", "LeadSource", "CreatedDate"]
    assert auto_map(headers, object_type="lead", customs=[]) == [
        "external_id", "first_name", "last_name", "email", "source", "captured_at",
    ]  # fmt: skip


def test_salesforce_accounts_export():
    mapping = as_dict(SALESFORCE_ACCOUNTS, auto_map(SALESFORCE_ACCOUNTS, object_type="account", customs=[]))
    assert mapping == {
        "Account ID": "external_id",
        "Account Name": "name",
        "Website": "domain",
        "Industry": "industry",
        "Employees": "employees",
        "Annual Revenue": "annual_revenue",
        "Billing Country": "country",
        "Billing State/Province": "region",
        "Type": "",
        "Account Owner": "",
    }


def test_hubspot_companies_export():
    mapping = as_dict(HUBSPOT_COMPANIES, auto_map(HUBSPOT_COMPANIES, object_type="account", customs=[]))
    assert mapping == {
        "Record ID": "external_id",
        "Company name": "name",
        "Company Domain Name": "domain",
        "Industry": "industry",
        "Number of Employees": "employees",
        "Annual Revenue": "annual_revenue",
        "Country/Region": "country",
        "State/Region": "region",
        "Company owner": "",
    }


@pytest.mark.parametrize("header", ["First Name", "first_name", "FirstName", "FIRST-NAME", " first  name "])
def test_headers_match_whatever_their_case_spacing_and_punctuation(header):
    assert header_key(header) == "firstname"
    assert auto_map([header], object_type="lead", customs=[]) == ["first_name"]


@pytest.mark.django_db
def test_custom_fields_match_by_key_or_label(org):
    plan = CustomField.objects.create(organization=org, object_type="lead", key="plan", label="Pricing plan")
    seats = CustomField.objects.create(organization=org, object_type="lead", key="seats", label="Seat count")
    customs = [plan, seats]
    headers = ["Email", "Pricing Plan", "seats", "Favourite colour"]
    assert auto_map(headers, object_type="lead", customs=customs) == [
        "email", "custom.plan", "custom.seats", "",
    ]  # fmt: skip


def test_a_mapping_feeding_one_field_twice_is_refused():
    fields = catalogue(object_type="lead", customs=[])
    problems = check_mapping(["email", "email", ""], headers=["Email", "Work Email", "Notes"], fields=fields)
    assert problems == [
        "E-mail is fed by two columns, Email and Work Email. "
        "Pick one and set the other to \u201cDon't import\u201d."
    ]
    assert check_mapping(["", ""], headers=["A", "B"], fields=fields) == [
        "No column is imported. Choose a field for at least one column."
    ]
