"""The components of a diagnostic report as CSV rows: the page's export and the API's CSV share them."""

import csv
import io

HEADER = [
    "taken_on",
    "pillar",
    "key",
    "label",
    "points",
    "max_points",
    "status",
    "share",
    "evidence",
    "records",
    "measured",
    "thresholds",
    "fix_url",
]


def component_rows(report: dict) -> list[list]:
    rows = []
    for pillar in report.get("pillars", []):
        for point in pillar["components"]:
            rows.append(
                [
                    report["taken_on"],
                    pillar["label"],
                    point["key"],
                    point["label"],
                    point["points"],
                    point["max_points"],
                    point["status"],
                    point["ratio"],
                    point["summary"],
                    "; ".join(point["records"]),
                    point["measured"],
                    point["thresholds"],
                    point["fix_url"],
                ]
            )
    return rows


def as_text(report: dict) -> str:
    """The same rows as one CSV document (cells defused like every export)."""
    from apps.core.csv import safe_csv_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for row in component_rows(report):
        writer.writerow([safe_csv_cell(cell) for cell in row])
    return buffer.getvalue()
