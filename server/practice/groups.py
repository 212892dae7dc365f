"""Groups and their members as the dashboard manages them: who may see and change which group, and the
checks on every field. Only a group's facilitators (and administrators) see or change it."""

from __future__ import annotations

from typing import Any

from .accounts import Audit, Caller
from .errors import PracticeError
from .fields import GROUP_KINDS, MAX_CAPACITY, MEMBER_STATUSES, bad, choice, integer, optional_email, text, time_zone
from .store import PracticeStore, Row

DEFAULT_CAPACITY = 15
MAX_FACILITATORS = 10


class Groups:
    def __init__(self, store: PracticeStore, audit: Audit, default_consent: str) -> None:
        self.store = store
        self.audit = audit
        self.default_consent = default_consent

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
                          "tz": None, "consent_text": self.default_consent}
        fields = {
            "name": text(body, "name", high=100, default=old["name"]),
            "kind": choice(body, "kind", GROUP_KINDS, default=old["kind"]),
            "focus": text(body, "focus", low=0, high=100, default=old["focus"]),
            "agenda_template": text(body, "agenda_template", low=0, high=4000, default=old["agenda_template"]),
            "capacity": integer(body, "capacity", 2, MAX_CAPACITY, default=old["capacity"]),
            "tz": time_zone(body, "tz", default=old["tz"]),
            "consent_text": text(body, "consent_text", high=4000, default=old["consent_text"]),
        }
        if fields["kind"] == "specialized" and not fields["focus"]:
            raise bad("focus", "is required for a specialized group (e.g. trauma, anxiety)")
        return fields

    async def create(self, caller: Caller, body: dict[str, Any]) -> Row:
        fields = self._group_fields(body, None)
        facilitators = await self._facilitators(body, [caller.account["id"]])
        group = await self.store.call(self.store.db.create_group, fields, facilitators)
        self._audit(caller, "group-created", group["id"])
        return group

    async def update(self, caller: Caller, group_id: str, body: dict[str, Any]) -> Row:
        group = await self.get(caller, group_id)
        fields = self._group_fields(body, group)
        facilitators = await self._facilitators(body, group["facilitators"]) if "facilitators" in body else None
        await self.store.call(self.store.db.update_group, group_id, fields, facilitators)
        self._audit(caller, "group-changed", group_id, detail={"fields": sorted(k for k in body if k in fields or
                                                                                 k == "facilitators")})
        return await self.get(caller, group_id)

    async def set_schedule(self, caller: Caller, group_id: str, schedule: str | None) -> Row:
        await self.get(caller, group_id)
        await self.store.call(self.store.db.update_group, group_id, {"schedule": schedule})
        self._audit(caller, "schedule-changed", group_id)
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
                # A discharged member's link stops working at once (and their guests' links with it).
                await self.store.call(self.store.db.revoke_invites, member_id)
            self._audit(caller, "member-changed", group_id, subject=member_id, detail={"fields": sorted(changes)})
        return await self.member(caller, group_id, member["id"])


def public_group(group: Row) -> dict[str, Any]:
    return {key: group[key] for key in ("id", "name", "kind", "focus", "agenda_template", "capacity", "tz",
                                        "consent_text", "facilitators")}


def public_member(member: Row) -> dict[str, Any]:
    return {
        "id": member["id"], "display_name": member["display_name"], "email": member["email"], "tz": member["tz"],
        "status": member["status"], "guest_of": member["guest_of"],
        "setup_passed": member["setup_passed_at"] is not None, "has_invite": bool(member.get("has_invite", False)),
    }
