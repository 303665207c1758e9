"""A small, safe Markdown subset for playbooks, with no dependency.

No Markdown library is installed, and a runbook needs little: headings, bullet
and numbered lists, paragraphs, **bold**, *italic*, `code` and links. Every
character of the source is HTML-escaped first and only these constructs
become tags, so a playbook can never inject markup or script; links keep to
http(s) and site-relative addresses.
"""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_HEADING = re.compile(r"^(#{1,3})\s+(.*)$")
_BULLET = re.compile(r"^[-*]\s+(.*)$")
_NUMBERED = re.compile(r"^\d+[.)]\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_LINK = re.compile(r"\[([^\]]+)\]\(((?:https?://|/)[^\s)]*)\)")
# Page headings are h1/h2; a playbook's own headings sit below them.
HEADING_TAGS = {1: "h3", 2: "h4", 3: "h5"}


def _inline(escaped: str) -> str:
    """Inline marks on already-escaped text (code spans are left alone inside)."""
    parts = _CODE.split(escaped)
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f"<code>{part}</code>")
            continue
        part = _LINK.sub(r'<a href="\2" rel="nofollow noopener">\1</a>', part)
        part = _BOLD.sub(r"<strong>\1</strong>", part)
        out.append(_ITALIC.sub(r"<em>\1</em>", part))
    return "".join(out)


def render(source: str) -> SafeString:
    html, paragraph, items, list_tag = [], [], [], ""

    def flush_paragraph():
        if paragraph:
            html.append("<p>" + "<br>".join(_inline(line) for line in paragraph) + "</p>")
            paragraph.clear()

    def flush_list():
        nonlocal list_tag
        if items:
            html.append(f"<{list_tag}>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + f"</{list_tag}>")
            items.clear()
        list_tag = ""

    for raw in (source or "").replace("\r\n", "\n").split("\n"):
        line = escape(raw.strip())
        heading, bullet, numbered = _HEADING.match(line), _BULLET.match(line), _NUMBERED.match(line)
        if not line:
            flush_paragraph()
            flush_list()
        elif heading:
            flush_paragraph()
            flush_list()
            tag = HEADING_TAGS[len(heading.group(1))]
            html.append(f"<{tag}>{_inline(heading.group(2))}</{tag}>")
        elif bullet or numbered:
            flush_paragraph()
            tag = "ul" if bullet else "ol"
            if list_tag and list_tag != tag:
                flush_list()
            list_tag = tag
            items.append((bullet or numbered).group(1))
        else:
            flush_list()
            paragraph.append(line)
    flush_paragraph()
    flush_list()
    return mark_safe("\n".join(html))  # noqa: S308 -- built from escaped text only
