"""A group's attendance history as CSV (spreadsheets) and as a printable HTML page (no script, no PDF).

Both are built from the API's JSON form (server/practice/records.py ``history``), so every export says the
same as the dashboard. CSV cells that a spreadsheet would run as formulas are defused (storage._csv_text);
HTML escapes every value and carries its own CSS.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any

from server.storage import _csv_text

STATUS_WORDS = {"present": "Present", "absent": "Absent", "excused": "Excused", "upcoming": "Upcoming",
                "not-held": "No session", "not-enrolled": "Not yet a member"}


def _cell(value: Any) -> Any:
    return _csv_text(value) if isinstance(value, str) else ("" if value is None else value)


def attendance_csv(found: dict[str, Any]) -> str:
    """One row per member per occurrence, then one per member per week (``row`` names which)."""
    out = io.StringIO()
    writer = csv.writer(out)
    moods = found.get("keep_moods", False)
    header = ["row", "member_id", "display_name", "member_status", "occurrence", "scheduled_start", "status",
              "minutes_present", "minutes_waiting", "first_entry", "last_leave", "late_minutes",
              "left_early_minutes", "reconnects", "removed", "excuse_reason"]
    writer.writerow(header + (["mood_ratings"] if moods else []) + ["week_start", "week_hours", "week_required",
                                                                     "week_met"])
    starts = {o["key"]: o["scheduled_start"] for o in found["occurrences"]}
    for member in found["members"]:
        ratings: dict[str, list[str]] = {}
        for mood in member.get("moods", []):
            ratings.setdefault(mood["occurrence"], []).append(str(mood["rating"]))
        who = [member["member_id"], member["display_name"], member["status"]]
        for entry in member["attendance"]:
            row = ["occurrence", *who, entry["occurrence"], starts.get(entry["occurrence"]), entry["status"],
                   entry["minutes_present"], entry["minutes_waiting"], entry["first_entry"], entry["last_leave"],
                   entry["late_minutes"], entry["left_early_minutes"], entry["reconnects"], entry["removed"],
                   entry["excuse_reason"]]
            if moods:
                row.append(" ".join(ratings.get(entry["occurrence"], [])))
            writer.writerow([_cell(v) for v in row] + ["", "", "", ""])
        for week in member["weeks"]:
            row = ["week", *who] + [""] * (len(header) - 4) + ([""] if moods else [])
            writer.writerow([_cell(v) for v in row] + [week["week_start"], week["hours"], week["required"],
                                                       week["met"]])
    return out.getvalue()


CSS = """
body { font: 11pt/1.4 system-ui, sans-serif; margin: 2em; color: #111; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #999; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
caption { text-align: left; font-weight: bold; margin-bottom: 0.3em; }
.met { font-weight: bold; }
@media print { body { margin: 0; } }
"""


def attendance_html(found: dict[str, Any], clinic: str = "Haven") -> str:
    """A self-contained page a clinician prints or saves: the roll per occurrence and the weekly hours."""
    e = html.escape
    group = found["group"]
    title = f"Attendance: {group['name']}, {found['from']} to {found['to']}"
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{e(title)}</h1><p>{e(clinic)}. Times in {e(found['tz'])}. Weekly requirement: "
             f"{e(str(found['weekly_hours_required']))} hours.</p>"]
    occurrences = found["occurrences"]
    parts.append("<table><caption>Attendance by session</caption><thead><tr><th scope=\"col\">Member</th>")
    for item in occurrences:
        parts.append(f"<th scope=\"col\">{e(item['scheduled_start'] or item['key'])}</th>")
    parts.append("</tr></thead><tbody>")
    for member in found["members"]:
        parts.append(f"<tr><th scope=\"row\">{e(member['display_name'])}</th>")
        for entry in member["attendance"]:
            parts.append(f"<td>{e(describe(entry))}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    parts.append("<table><caption>Weekly hours</caption><thead><tr><th scope=\"col\">Member</th>"
                 "<th scope=\"col\">Week of</th><th scope=\"col\">Hours</th><th scope=\"col\">Requirement</th>"
                 "</tr></thead><tbody>")
    for member in found["members"]:
        for week in member["weeks"]:
            met = "met" if week["met"] else "not met"
            parts.append(f"<tr><th scope=\"row\">{e(member['display_name'])}</th><td>{e(week['week_start'])}</td>"
                         f"<td>{week['hours']:g}</td><td class=\"{'met' if week['met'] else ''}\">"
                         f"{week['required']:g}: {met}</td></tr>")
    parts.append("</tbody></table></body></html>")
    return "".join(parts)


def describe(entry: dict[str, Any]) -> str:
    """One member's attendance at one occurrence in words (as the dashboard says it)."""
    status = entry["status"]
    if status == "excused":
        return f"Excused: {entry['excuse_reason']}" if entry["excuse_reason"] else "Excused"
    if status != "present":
        return STATUS_WORDS.get(status, status)
    words = [f"Present {entry['minutes_present']:g} min"]
    if entry["late_minutes"]:
        words.append(f"late {entry['late_minutes']} min")
    if entry["left_early_minutes"]:
        words.append(f"left {entry['left_early_minutes']} min early")
    if entry["reconnects"]:
        words.append(f"{entry['reconnects']} reconnect{'s' if entry['reconnects'] != 1 else ''}")
    if entry["minutes_waiting"]:
        words.append(f"waited {entry['minutes_waiting']:g} min")
    if entry["removed"]:
        words.append("removed by a host")
    return ", ".join(words)
