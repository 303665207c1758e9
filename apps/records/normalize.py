"""Normalisation of e-mails, domains and names before they are stored or matched."""

import re
from urllib.parse import urlsplit

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "outlook.com",
        "live.com", "msn.com", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com",
        "gmx.com", "gmx.de", "web.de", "mail.com", "yandex.ru", "qq.com", "163.com", "orange.fr",
        "free.fr", "laposte.net",
    }
)  # fmt: skip


def normalize_email(value: str | None) -> str:
    return (value or "").strip().lower()


def email_domain(email: str) -> str:
    _, _, domain = normalize_email(email).rpartition("@")
    return domain


def normalize_domain(value: str | None) -> str:
    """'https://www.Acme.com/about' → 'acme.com'; an e-mail gives its domain."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    if "@" in value and "/" not in value:
        value = value.rpartition("@")[2]
    if "://" not in value:
        value = "//" + value
    host = urlsplit(value).hostname or ""
    host = host.removeprefix("www.").strip(".")
    return host


def company_domain_of_email(email: str) -> str:
    """The e-mail's domain when it can name a company (not a free-mail provider)."""
    domain = email_domain(email)
    return "" if domain in FREE_MAIL_DOMAINS else domain


_SPACES = re.compile(r"\s+")


def normalize_text(value) -> str:
    return _SPACES.sub(" ", str(value or "")).strip()


_COMPANY_SUFFIXES = re.compile(
    r"\b(inc|incorporated|llc|ltd|limited|gmbh|sa|sas|bv|plc|corp|corporation|co)\b\.?"
)


def company_key(name: str) -> str:
    """A comparison key for company names: 'Acme, Inc.' and 'ACME' compare equal."""
    key = _COMPANY_SUFFIXES.sub("", (name or "").lower())
    return re.sub(r"[^a-z0-9]", "", key)
