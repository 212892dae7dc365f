"""Groups and their members as the dashboard manages them: who may see and change which group, and the
checks on every field. Only a group's facilitators (and administrators) see or change it."""

from __future__ import annotations

import datetime
import json
from typing import Any

from .accounts import Audit, Caller
from .errors import PracticeError
from .fields import (
    GROUP_KINDS,
    MAX_CAPACITY,
    MEMBER_STATUSES,
    bad,
    choice,
    flag,
    integer,
    optional_email,
    text,
    time_zone,
)
from .group_rooms import GroupRooms, parse_agenda
from .schedule import Occurrence, Schedule, ScheduleError, occurrence, occurrences, until_end_of
from .store import PracticeStore, Row

DEFAULT_CAPACITY = 15
MAX_FACILITATORS = 10
MAX_OCCURRENCES = 100  # per query: four weeks of a daily group, with room to spare
EXCEPTION_ACTIONS = ("cancel", "move", "restore")


def schedule_of(group: Row) -> Schedule | None:
    """Return a group's stored schedule (validated when it was stored), or None."""
    return None if group["schedule"] is None else Schedule.from_json(json.loads(group["schedule"]))


def group_occurrences(group: Row, start: datetime.datetime, end: datetime.datetime) -> list[Occurrence]:
    """Return a group's occurrences overlapping [start, end), cancelled ones included: none without a schedule."""
    schedule = schedule_of(group)
    return [] if schedule is None else occurrences(schedule, start, end, limit=MAX_OCCURRENCES)


def _through(rule: object, until: object, tz: object) -> str:
    """Return the rule ending with the local day ``until`` (YYYY-MM-DD) in the group's zone, as a UTC UNTIL."""
    if not isinstance(rule, str) or not rule or "COUNT=" in rule or "UNTIL=" in rule:
        raise ScheduleError("until", "goes with a repeating rule that has no COUNT or UNTIL of its own")
    if not isinstance(until, str) or not isinstance(tz, str):
        raise ScheduleError("until", "must be a date written YYYY-MM-DD")
    try:
        day = datetime.date.fromisoformat(until)
    except ValueError:
        raise ScheduleError("until", "must be a date written YYYY-MM-DD") from None
    return f"{rule};UNTIL={until_end_of(day, tz)}"


def schedule_refused(error: ScheduleError) -> PracticeError:
    where = f"schedule.{error.field}"
    return PracticeError(400, "bad-request", f"{where}: {error.problem}", field=where)


class Groups:
    def __init__(self, store: PracticeStore, audit: Audit, default_consent: str,
                 rooms: GroupRooms | None = None, default_emergency_info: bool = True) -> None:
        self.store = store
        self.audit = audit
        self.default_consent = default_consent
        self.default_emergency_info = default_emergency_info
        self.rooms = rooms or GroupRooms()  # what the group's rooms show at hello

    def _audit(self, caller: Caller, action: str, group_id: str, subject: str | None = None,
               detail: dict | None = None) -> None:
        # The group's id stands in the room column's place: never its name, which may say what it treats.
        self.audit.audit(action, actor=caller.account["id"], role=caller.account["role"], subject=subject or group_id,
                         detail={"group": group_id, **(detail or {})})

    async def visible(self, caller: Caller) -> list[Row]:
        """Return the groups the caller facilitates (an administrator: every group)."""
        db = self.store.db
        if caller.is_admin:
            return await self.store.call(db.groups)
        return await self.store.call(db.groups_of, caller.account["id"])

    async def get(self, caller: Caller, group_id: str) -> Row:
        """Return a group the caller may run; 404 for one that does not exist or is not theirs (no hint which)."""
        group = await self.store.call(self.store.db.group, group_id)
        if group is None or not (caller.is_admin or caller.account["id"] in group["facilitators"]):
            raise PracticeError(404, "unknown-group", "no such group")
        return group

    async def _facilitators(self, body: dict[str, Any], default: list[str]) -> list[str]:
        value = body.get("facilitators", default)
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_FACILITATORS or \
                not all(isinstance(v, str) for v in value):
            raise bad("facilitators", f"must be a list of 1 to {MAX_FACILITATORS} account ids")
        for account_id in value:
            account = await self.store.call(self.store.db.account, account_id)
            if account is None or account["disabled"]:
                raise bad("facilitators", "must name existing, enabled accounts")
        return sorted(set(value))

    def _group_fields(self, body: dict[str, Any], current: Row | None) -> dict[str, Any]:
        old = current or {"name": None, "kind": None, "focus": "", "agenda_template": "", "capacity": DEFAULT_CAPACITY,
                          "tz": None, "consent_text": self.default_consent, "keep_moods": 0,
                          "emergency_info": int(self.default_emergency_info)}
        fields = {
            "name": text(body, "name", high=100, default=old["name"]),
            "kind": choice(body, "kind", GROUP_KINDS, default=old["kind"]),
            "focus": text(body, "focus", low=0, high=100, default=old["focus"]),
            "agenda_template": text(body, "agenda_template", low=0, high=4000, default=old["agenda_template"]),
            "capacity": integer(body, "capacity", 2, MAX_CAPACITY, default=old["capacity"]),
            "tz": time_zone(body, "tz", default=old["tz"]),
            "consent_text": text(body, "consent_text", high=4000, default=old["consent_text"]),
            # Off unless the group asks: members' check-in moods are then kept, sealed, for its facilitators.
            "keep_moods": int(flag(body, "keep_moods", default=bool(old["keep_moods"]))),
            # Members confirm where they are and an emergency contact at every join (hosts see it).
            "emergency_info": int(flag(body, "emergency_info", default=bool(old["emergency_info"]))),
        }
        if fields["kind"] == "specialized" and not fields["focus"]:
            raise bad("focus", "is required for a specialized group (e.g. trauma, anxiety)")
        try:  # the agenda the group's sessions start from: one phase per line, its title then its minutes
            parse_agenda(str(fields["agenda_template"]))
        except ValueError as error:
            raise bad("agenda_template", str(error)) from None
        return fields

    async def create(self, caller: Caller, body: dict[str, Any]) -> Row:
        fields = self._group_fields(body, None)
        facilitators = await self._facilitators(body, [caller.account["id"]])
        group = await self.store.call(self.store.db.create_group, fields, facilitators)
        self.rooms.update(group)
        self._audit(caller, "group-created", group["id"])
        return group

    async def update(self, caller: Caller, group_id: str, body: dict[str, Any]) -> Row:
        group = await self.get(caller, group_id)
        fields = self._group_fields(body, group)
        facilitators = await self._facilitators(body, group["facilitators"]) if "facilitators" in body else None
        await self.store.call(self.store.db.update_group, group_id, fields, facilitators)
        self.rooms.update({"id": group_id, **fields})
        self._audit(caller, "group-changed", group_id, detail={"fields": sorted(k for k in body if k in fields or
                                                                                 k == "facilitators")})
        return await self.get(caller, group_id)

    async def set_schedule(self, caller: Caller, group_id: str, body: dict[str, Any] | None) -> Row:
        """Store a group's schedule (``Schedule.to_json`` form, its zone the group's by default), or clear it."""
        group = await self.get(caller, group_id)
        stored = None
        if body is not None:
            body = dict(body)
            until = body.pop("until", None)
            try:
                if until is not None:
                    body["rrule"] = _through(body.get("rrule"), until, body.get("tz", group["tz"]))
                schedule = Schedule.from_json({"tz": group["tz"], **body})
            except ScheduleError as error:
                raise schedule_refused(error) from None
            stored = json.dumps(schedule.to_json(), separators=(",", ":"))
        await self.store.call(self.store.db.update_group, group_id, {"schedule": stored})
        self._audit(caller, "schedule-changed", group_id, detail={"cleared": body is None})
        return await self.get(caller, group_id)

    async def change_occurrence(self, caller: Caller, group_id: str, body: dict[str, Any]) -> Row:
        """Cancel, move or restore one occurrence of the group's schedule."""
        group = await self.get(caller, group_id)
        schedule = schedule_of(group)
        if schedule is None:
            raise PracticeError(409, "no-schedule", "this group has no schedule yet")
        action = choice(body, "action", EXCEPTION_ACTIONS)
        key = body.get("key")
        if not isinstance(key, str) or occurrence(schedule, key) is None:
            raise bad("key", "must name an occurrence of this group's schedule")
        try:
            if action == "cancel":
                changed = schedule.with_cancelled(key)
            elif action == "restore":
                changed = schedule.without_exception(key)
            else:
                moved = Schedule.from_json({**schedule.to_json(), "exceptions": [
                    {"key": key, **{k: body[k] for k in ("start", "duration") if body.get(k) is not None}}]})
                override = moved.exceptions[0]
                changed = schedule.with_moved(key, override.start, override.duration)
        except ScheduleError as error:
            raise schedule_refused(error) from None
        stored = json.dumps(changed.to_json(), separators=(",", ":"))
        await self.store.call(self.store.db.update_group, group_id, {"schedule": stored})
        self._audit(caller, "occurrence-changed", group_id, detail={"action": action})
        return await self.get(caller, group_id)

    # -- members ----------------------------------------------------------------------------------

    async def members(self, caller: Caller, group_id: str) -> list[Row]:
        await self.get(caller, group_id)
        return await self.store.call(self.store.db.members_of, group_id)

    async def member(self, caller: Caller, group_id: str, member_id: str) -> Row:
        await self.get(caller, group_id)
        member = await self.store.call(self.store.db.member, member_id)
        if member is None or member["group_id"] != group_id:
            raise PracticeError(404, "unknown-member", "no such member in this group")
        return member

    async def add_member(self, caller: Caller, group_id: str, body: dict[str, Any]) -> Row:
        group = await self.get(caller, group_id)
        guest_of = body.get("guest_of")
        if guest_of is not None:
            if group["kind"] != "family-couples":
                raise bad("guest_of", "is only for family & couples groups")
            host = await self.member(caller, group_id, guest_of) if isinstance(guest_of, str) else None
            if host is None or host["guest_of"] is not None:
                raise bad("guest_of", "must be a member (not a guest) of this group")
        active = [m for m in await self.store.call(self.store.db.members_of, group_id) if m["status"] == "active"]
        if len(active) >= group["capacity"]:
            raise PracticeError(409, "group-full", f"the group already has {group['capacity']} active members")
        member = await self.store.call(
            self.store.db.create_member, group_id, text(body, "display_name", high=40),
            optional_email(body), time_zone(body, "tz", default=group["tz"]), guest_of)
        self._audit(caller, "member-added", group_id, subject=member["id"], detail={"guest": guest_of is not None})
        return member

    async def update_member(self, caller: Caller, group_id: str, member_id: str, body: dict[str, Any]) -> Row:
        member = await self.member(caller, group_id, member_id)
        changes: dict[str, Any] = {}
        if "display_name" in body:
            changes["display_name"] = text(body, "display_name", high=40)
        if "email" in body:
            changes["email"] = optional_email(body)
        if "tz" in body:
            changes["tz"] = time_zone(body, "tz")
        if "status" in body:
            changes["status"] = choice(body, "status", MEMBER_STATUSES)
        if changes:
            await self.store.call(self.store.db.update_member, member_id, **changes)
            if changes.get("status") == "discharged":
                # A discharged member's link stops working at once, and their guests leave with them.
                db = self.store.db
                await self.store.call(db.revoke_invites, member_id)
                for guest in await self.store.call(db.guests_of, member_id):
                    await self.store.call(db.update_member, guest["id"], status="discharged")
                    await self.store.call(db.revoke_invites, guest["id"])
            self._audit(caller, "member-changed", group_id, subject=member_id, detail={"fields": sorted(changes)})
        return await self.member(caller, group_id, member["id"])


def public_group(group: Row) -> dict[str, Any]:
    shown = {key: group[key] for key in ("id", "name", "kind", "focus", "agenda_template", "capacity", "tz",
                                         "consent_text", "facilitators")}
    shown["keep_moods"] = bool(group.get("keep_moods", 0))
    shown["emergency_info"] = bool(group.get("emergency_info", 1))
    schedule = schedule_of(group)
    return {**shown, "schedule": None if schedule is None else schedule.to_json()}


def public_member(member: Row) -> dict[str, Any]:
    return {
        "id": member["id"], "display_name": member["display_name"], "email": member["email"], "tz": member["tz"],
        "status": member["status"], "guest_of": member["guest_of"],
        "setup_passed": member["setup_passed_at"] is not None, "has_invite": bool(member.get("has_invite", False)),
    }

