"""A program's records as its facilitators read them: attendance history, excusals, session records with the
facilitator's note, and each member's progress (kept moods, homework, attendance).

Access is the group's: its facilitators and administrators, anyone else gets the same 404 ``unknown-group``
as every other group endpoint. Every read is audited (``records-read``, ids only). Clinical text (excusal
reasons, notes, moods) is sealed at rest with the records' keyring (server/cipher.py); what cannot be opened
(a lost key) is shown as missing, never as a crash.

``history`` is the synchronous core over a PracticeDb, so the command line (``haven report attendance``)
computes exactly what the API answers.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from server.cipher import CipherError, Keyring
from server.storage import event_context, mood_context

from . import records_db, session_record
from .accounts import Audit, Caller
from .attendance import SessionRecord, Slot, day_range, member_attendance, occurrence_status, weekly_hours
from .errors import PracticeError
from .fields import bad, is_time_zone
from .groups import Groups, schedule_of
from .schedule import occurrence, occurrences
from .store import PracticeDb, PracticeStore, Row
from .windows import room_for

MAX_RANGE_DAYS = 366
MAX_OCCURRENCES = 1000  # a year of a group meeting twice a day
MAX_REASON_CHARS = 200
MAX_NOTE_CHARS = 2000
FORMATS = ("json", "csv", "html")


@dataclass(frozen=True)
class Rules:
    """The program's attendance rules ([records] in the config)."""

    late_after: float
    weekly_hours_required: float


def excusal_context(group_id: str, key: str, member_id: str) -> str:
    return f"excusals.reason:{group_id}:{key}:{member_id}"


def note_context(session_id: str) -> str:
    return f"session_notes.note:{session_id}"


def _open(keyring: Keyring | None, token: str, context: str) -> str | None:
    if keyring is None:
        return None
    try:
        return keyring.open(token, context)
    except CipherError:
        return None


def parse_day(value: object, name: str) -> datetime.date:
    if not isinstance(value, str):
        raise bad(name, "must be a date written YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise bad(name, "must be a date written YYYY-MM-DD") from None


def day_span(first_text: object, last_text: object, tz: ZoneInfo, now: float) -> tuple[datetime.date, datetime.date]:
    """The range asked for (both days included), by default the current week in ``tz``; at most a year."""
    today = datetime.datetime.fromtimestamp(now, tz).date()
    monday = today - datetime.timedelta(days=today.weekday())
    first = parse_day(first_text, "from") if first_text is not None else monday
    last = parse_day(last_text, "to") if last_text is not None else first + datetime.timedelta(days=6)
    if last < first:
        raise bad("to", "must not be before from")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise bad("to", f"the range may cover at most {MAX_RANGE_DAYS} days")
    return first, last


def history(db: PracticeDb, keyring: Keyring | None, group: Row, first: datetime.date, last: datetime.date,
            tz_name: str, rules: Rules, now: float, member_id: str | None = None) -> dict[str, Any]:
    """The group's occurrences in [first, last] (days in ``tz_name``) with every member's attendance."""
    tz = ZoneInfo(tz_name)

    def iso(at: float | None) -> str | None:
        return None if at is None else datetime.datetime.fromtimestamp(at, tz).isoformat(timespec="seconds")

    schedule = schedule_of(group)
    start, end = day_range(first, last, tz)
    found = [] if schedule is None else occurrences(schedule, start.astimezone(datetime.UTC),
                                                    end.astimezone(datetime.UTC), limit=MAX_OCCURRENCES)
    slots = [Slot(o.key, o.start.timestamp(), o.end.timestamp(), o.cancelled) for o in found]
    rooms = {room_for(group["id"], slot.key): slot for slot in slots}
    by_slot: dict[str, list[SessionRecord]] = {slot.key: [] for slot in slots}
    steps: dict[str, list[Row]] = {}
    for row in records_db.sessions_in(db, rooms):
        slot = rooms[row["room"]]
        by_slot[slot.key].append(SessionRecord(row["id"], row["started_at"], row["ended_at"], row["end_reason"],
                                               tuple(row["events"])))
        steps[row["id"]] = row["steps"]
    excused = {(r["occurrence_key"], r["member_id"]): r for r in records_db.excusals(db, group["id"])}
    members = [m for m in db.members_of(group["id"]) if member_id is None or m["id"] == member_id]
    occurrence_rows = [{
        "key": slot.key, "scheduled_start": iso(slot.start), "scheduled_end": iso(slot.end),
        "sessions": [{"id": s.id, "started_at": iso(s.started_at), "ended_at": iso(s.ended_at),
                      "end_reason": s.end_reason} for s in by_slot[slot.key]],
        "status": occurrence_status(slot, by_slot[slot.key], now)} for slot in slots]
    member_rows = []
    for member in members:
        entries: dict[str, dict[str, Any]] = {}
        for slot in slots:
            excusal = excused.get((slot.key, member["id"]))
            reason = None if excusal is None else (_open(keyring, excusal["reason_sealed"], excusal_context(
                group["id"], slot.key, member["id"])) or "(reason unreadable)")
            entry = member_attendance(slot, by_slot[slot.key], member["id"], now=now, late_after=rules.late_after,
                                      enrolled_at=member["created_at"], excuse=reason)
            entry["first_entry"], entry["last_leave"] = iso(entry["first_entry"]), iso(entry["last_leave"])
            entries[slot.key] = entry
        # A discharged member with nothing in the range is not part of this range's roll.
        if member["status"] != "active" and not any(e["status"] in ("present", "absent", "excused")
                                                    for e in entries.values()):
            continue
        member_rows.append({
            "member_id": member["id"], "display_name": member["display_name"], "status": member["status"],
            "guest_of": member["guest_of"], "attendance": list(entries.values()),
            "weeks": weekly_hours(slots, entries, tz, first, last, rules.weekly_hours_required)})
    return {"group": {"id": group["id"], "name": group["name"]}, "tz": tz_name, "from": first.isoformat(),
            "to": last.isoformat(), "weekly_hours_required": rules.weekly_hours_required,
            "keep_moods": bool(group.get("keep_moods")), "occurrences": occurrence_rows, "members": member_rows,
            "_steps": steps, "_iso": iso}


def member_moods(db: PracticeDb, keyring: Keyring | None, member_id: str, found: dict[str, Any]) -> list[dict]:
    """A member's kept moods in the sessions of a history, opened (unreadable ones left out)."""
    sessions = {s["id"]: o["key"] for o in found["occurrences"] for s in o["sessions"]}
    kept = []
    for row in records_db.moods(db, member_id, sessions):
        text = _open(keyring, row["rating_sealed"], mood_context(row["session_id"], member_id))
        if text is not None and text.isdigit():
            kept.append({"at": found["_iso"](row["at"]), "session_id": row["session_id"],
                         "occurrence": sessions[row["session_id"]], "rating": int(text)})
    return kept


def opened_steps(keyring: Keyring | None, session_id: str, rows: list[Row]) -> list[session_record.Step]:
    steps = []
    for row in rows:
        text = _open(keyring, row["detail"], event_context(session_id))
        try:
            detail = json.loads(text) if text is not None else {}
        except ValueError:
            detail = {}
        steps.append((row["kind"], row["at"], detail if isinstance(detail, dict) else {}))
    return steps


def public(found: dict[str, Any]) -> dict[str, Any]:
    """The API's form of a history (without the internals the renderers use)."""
    return {k: v for k, v in found.items() if not k.startswith("_")}


class ProgramRecords:
    """The records endpoints' rules: who may read what, the range, sealing, auditing."""

    def __init__(self, store: PracticeStore, groups: Groups, keyring: Keyring | None, audit: Audit, rules: Rules,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.groups = groups
        self.keyring = keyring
        self.audit = audit
        self.rules = rules
        self.clock = clock

    def _read(self, caller: Caller, what: str, group_id: str, subject: str | None = None, **detail: Any) -> None:
        self.audit.audit("records-read", actor=caller.account["id"], role=caller.account["role"],
                         subject=subject or group_id, detail={"group": group_id, "what": what, **detail})

    def _tz(self, caller: Caller) -> str:
        tz = caller.account.get("tz") or "UTC"
        return tz if is_time_zone(tz) else "UTC"

    async def attendance(self, caller: Caller, group_id: str, query: dict[str, str]) -> dict[str, Any]:
        """The group's attendance in the asked range (caller's time zone); audited."""
        group = await self.groups.get(caller, group_id)
        tz = self._tz(caller)
        now = self.clock()
        first, last = day_span(query.get("from"), query.get("to"), ZoneInfo(tz), now)
        found = await self.store.call(history, self.store.db, self.keyring, group, first, last, tz, self.rules, now)
        if found["keep_moods"]:
            for member in found["members"]:
                member["moods"] = await self.store.call(member_moods, self.store.db, self.keyring,
                                                        member["member_id"], found)
        self._read(caller, "attendance", group_id, format=query.get("format", "json"))
        return found

    async def _occurrence_key(self, group: Row, value: object) -> str:
        schedule = schedule_of(group)
        if not isinstance(value, str) or schedule is None or occurrence(schedule, value) is None:
            raise bad("occurrence", "must name an occurrence of this group's schedule")
        return value

    async def excuse(self, caller: Caller, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Mark a member's absence from an occurrence excused, with a short reason (sealed)."""
        group = await self.groups.get(caller, group_id)
        member = await self.groups.member(caller, group_id, str(body.get("member_id", "")))
        key = await self._occurrence_key(group, body.get("occurrence"))
        reason = body.get("reason")
        if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= MAX_REASON_CHARS:
            raise bad("reason", f"must be 1 to {MAX_REASON_CHARS} characters")
        if self.keyring is None:
            raise PracticeError(503, "records-unavailable", "the records key is not available")
        sealed = self.keyring.seal(reason.strip(), excusal_context(group_id, key, member["id"]))
        await self.store.call(records_db.set_excusal, self.store.db, group_id, key, member["id"], sealed,
                              caller.account["id"])
        self.audit.audit("absence-excused", actor=caller.account["id"], role=caller.account["role"],
                         subject=member["id"], detail={"group": group_id, "occurrence": key})
        return {"excused": True, "member_id": member["id"], "occurrence": key, "reason": reason.strip()}

    async def unexcuse(self, caller: Caller, group_id: str, body: dict[str, Any]) -> None:
        """Take an excusal back (the absence counts again)."""
        group = await self.groups.get(caller, group_id)
        member = await self.groups.member(caller, group_id, str(body.get("member_id", "")))
        key = await self._occurrence_key(group, body.get("occurrence"))
        if not await self.store.call(records_db.delete_excusal, self.store.db, group_id, key, member["id"]):
            raise PracticeError(404, "unknown-excusal", "that absence was not excused")
        self.audit.audit("absence-unexcused", actor=caller.account["id"], role=caller.account["role"],
                         subject=member["id"], detail={"group": group_id, "occurrence": key})

    async def _session(self, caller: Caller, group_id: str, session_id: str) -> tuple[Row, Row]:
        group = await self.groups.get(caller, group_id)
        row = await self.store.call(records_db.session, self.store.db, session_id)
        # A session of another group's room (or of no group) is as unknown as one that never was.
        if row is None or not row["room"].startswith(f"{group_id}-"):
            raise PracticeError(404, "unknown-session", "no such session of this group")
        return group, row

    async def session_record(self, caller: Caller, group_id: str, session_id: str) -> dict[str, Any]:
        """A held session's record: phases, check-in, homework, breakouts and the facilitator's note."""
        group, row = await self._session(caller, group_id, session_id)
        tz = ZoneInfo(self._tz(caller))

        def iso(at: float | None) -> str | None:
            return None if at is None else datetime.datetime.fromtimestamp(at, tz).isoformat(timespec="seconds")

        names = await self.store.call(records_db.names, self.store.db, group_id)
        steps = opened_steps(self.keyring, session_id, row["steps"])
        record = session_record.build(steps, row["ended_at"], names, iso)
        note = await self._note(session_id, names, iso)
        self._read(caller, "session", group_id, subject=session_id)
        return {"id": session_id, "occurrence": row["room"][len(group_id) + 1:], "started_at": iso(row["started_at"]),
                "ended_at": iso(row["ended_at"]), "end_reason": row["end_reason"], **record, "note": note}

    async def _note(self, session_id: str, names: dict[str, Any], iso: Callable[[float | None], str | None]
                    ) -> dict[str, Any] | None:
        row = await self.store.call(records_db.note, self.store.db, session_id)
        if row is None:
            return None
        text = _open(self.keyring, row["note_sealed"], note_context(session_id))
        return {"text": text if text is not None else "(note unreadable: the records key is missing)",
                "by": names.get(row["by_account"], row["by_account"]), "at": iso(row["at"])}

    async def set_note(self, caller: Caller, group_id: str, session_id: str, body: dict[str, Any]
                       ) -> dict[str, Any] | None:
        """Write (or, empty, delete) the facilitator's note on a session; sealed; audited without its text."""
        await self._session(caller, group_id, session_id)
        text = body.get("text")
        if not isinstance(text, str) or len(text) > MAX_NOTE_CHARS:
            raise bad("text", f"must be text of at most {MAX_NOTE_CHARS} characters (empty deletes the note)")
        text = text.strip()
        if self.keyring is None:
            raise PracticeError(503, "records-unavailable", "the records key is not available")
        sealed = self.keyring.seal(text, note_context(session_id)) if text else None
        await self.store.call(records_db.set_note, self.store.db, session_id, group_id, sealed, caller.account["id"])
        self.audit.audit("session-note-changed", actor=caller.account["id"], role=caller.account["role"],
                         session_id=session_id, subject=session_id, detail={"group": group_id, "deleted": not text})
        tz = ZoneInfo(self._tz(caller))
        names = await self.store.call(records_db.names, self.store.db, group_id)
        return await self._note(session_id, names, lambda at: None if at is None else datetime.datetime.fromtimestamp(
            at, tz).isoformat(timespec="seconds"))

    async def progress(self, caller: Caller, group_id: str, member_id: str, query: dict[str, str]) -> dict[str, Any]:
        """A member's course: kept moods, homework of the sessions they attended, attendance and weekly hours."""
        group = await self.groups.get(caller, group_id)
        member = await self.groups.member(caller, group_id, member_id)
        tz = self._tz(caller)
        now = self.clock()
        first, last = day_span(query.get("from"), query.get("to"), ZoneInfo(tz), now)
        found = await self.store.call(history, self.store.db, self.keyring, group, first, last, tz, self.rules, now,
                                      member["id"])
        row = next((m for m in found["members"] if m["member_id"] == member["id"]), None)
        attended = {a["occurrence"] for a in row["attendance"] if a["status"] == "present"} if row else set()
        homework = []
        for item in found["occurrences"]:
            if item["key"] not in attended:
                continue
            for held in item["sessions"]:
                steps = opened_steps(self.keyring, held["id"], found["_steps"].get(held["id"], []))
                for given in session_record.build(steps, None, {}, found["_iso"])["homework"]:
                    homework.append({**given, "session_id": held["id"], "occurrence": item["key"]})
        moods = await self.store.call(member_moods, self.store.db, self.keyring, member["id"], found)
        self._read(caller, "progress", group_id, subject=member["id"])
        return {"member_id": member["id"], "display_name": member["display_name"], "tz": tz,
                "from": found["from"], "to": found["to"], "keep_moods": found["keep_moods"], "moods": moods,
                "homework": homework, "occurrences": found["occurrences"],
                "attendance": row["attendance"] if row else [], "weeks": row["weeks"] if row else []}
