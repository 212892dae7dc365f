"""Nodes: several Haven processes sharing the rooms through Redis (issue 15; docs/scaling.md).

Each node registers in Redis under a lease it renews every third of ``nodes.lease``, with what the
others need to choose it: its relay address, capacity and live load. A room (and with it all of its
breakouts, which live in the same Session) is placed on one node by a Lua script, which Redis runs
atomically: two nodes placing the same room at once get the same answer, and a room whose node's lease
has expired is placed afresh. The script picks the live, undrained, not-full node with the fewest rooms
(then the fewest participants), so a burst of first joins spreads before any load report arrives.

Keys (``haven:`` prefix): ``node:<id>`` a hash with the lease as its expiry; ``nodes`` the set of ids;
``rooms:<id>`` the rooms placed on a node; ``room:<room>`` the node a room is placed on; ``leader`` the
node that runs the cluster's once-only jobs (reminder emails, the retention purge, the audit anchor).
Room ids are in Redis (they are in every join link too); no names, tokens or health information are.

This module is the Redis side only; server/cluster.py runs it inside the server.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

PREFIX = "haven:"

# KEYS[1] room key; ARGV: prefix, room. Returns the owner's id, or false when no node can take it.
_PLACE = """
local prefix = ARGV[1]
local owner = redis.call('GET', KEYS[1])
if owner and redis.call('EXISTS', prefix .. 'node:' .. owner) == 1 then return owner end
local best, best_rooms, best_people
for _, id in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  local node = redis.call('HMGET', prefix .. 'node:' .. id, 'draining', 'participants', 'capacity')
  if not node[3] then
    redis.call('SREM', prefix .. 'nodes', id)
    redis.call('DEL', prefix .. 'rooms:' .. id)
  elseif node[1] ~= '1' and tonumber(node[2]) < tonumber(node[3]) then
    local rooms = redis.call('SCARD', prefix .. 'rooms:' .. id)
    local people = tonumber(node[2])
    if not best or rooms < best_rooms or (rooms == best_rooms and people < best_people)
        or (rooms == best_rooms and people == best_people and id < best) then
      best, best_rooms, best_people = id, rooms, people
    end
  end
end
if not best then return false end
if owner then redis.call('SREM', prefix .. 'rooms:' .. owner, ARGV[2]) end
redis.call('SET', KEYS[1], best)
redis.call('SADD', prefix .. 'rooms:' .. best, ARGV[2])
return best
"""

# KEYS[1] room key; ARGV: prefix, room, node id. Forgets the placement only if it is still this node's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', ARGV[1] .. 'rooms:' .. ARGV[3], ARGV[2])
return 1
"""

# KEYS[1] node key; ARGV: lease ms, then field/value pairs. 0 if the lease had already expired.
_RENEW = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS[1] leader key; ARGV: node id, lease ms. 1 if this node leads (now or still).
_LEAD = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS[1] leader key; ARGV: node id.
_RESIGN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


@dataclass(frozen=True)
class Load:
    """What a node reports at each renewal (counts only: no room, participant or person names)."""

    rooms: int = 0
    participants: int = 0
    packets_per_s: float = 0.0
    cpu: float = 0.0  # share of one core over the last renewal interval


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    internal_url: str
    udp_port: int
    capacity: int
    draining: bool
    started: float
    load: Load
    placed_rooms: int  # rooms Redis has placed here (some may not have started yet)
    leader: bool

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in dataclasses.asdict(self).items() if k != "load"},
                **dataclasses.asdict(self.load)}


class NodeDirectory:
    """This node's view of the others in Redis: register, renew, place and release rooms, lead the jobs."""

    def __init__(self, redis: Any, node_id: str, lease: float, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.node_id = node_id
        self.lease_ms = max(1, int(lease * 1000))
        self.prefix = prefix
        self._place = redis.register_script(_PLACE)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._lead = redis.register_script(_LEAD)
        self._resign = redis.register_script(_RESIGN)

    def _node_key(self, node_id: str | None = None) -> str:
        return f"{self.prefix}node:{node_id or self.node_id}"

    def _room_key(self, room: str) -> str:
        return f"{self.prefix}room:{room}"

    def _rooms_key(self, node_id: str | None = None) -> str:
        return f"{self.prefix}rooms:{node_id or self.node_id}"

    async def register(self, internal_url: str, udp_port: int, capacity: int, load: Load = Load()) -> None:
        """Announce this node (again, after a lost lease) with its address, capacity and load."""
        key = self._node_key()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"internal_url": internal_url, "udp_port": udp_port, "capacity": capacity,
                                    "draining": 0, "started": time.time(), **_load_fields(load)})
            pipe.pexpire(key, self.lease_ms)
            pipe.sadd(f"{self.prefix}nodes", self.node_id)
            await pipe.execute()

    async def renew(self, load: Load) -> bool:
        """Extend the lease and report the load; False when the lease had expired (register again)."""
        fields = [x for pair in _load_fields(load).items() for x in pair]
        return bool(await self._renew(keys=[self._node_key()], args=[self.lease_ms, *fields]))

    async def draining(self) -> bool:
        """Whether an operator drained this node (`haven node drain`)."""
        return (await self.redis.hget(self._node_key(), "draining")) in (b"1", "1")

    async def set_draining(self, node_id: str | None = None) -> bool:
        """Mark a node drained: it takes no new rooms, and its rooms finish. False if no such live node."""
        key = self._node_key(node_id)
        if not await self.redis.exists(key):
            return False
        await self.redis.hset(key, "draining", 1)
        return True

    async def place(self, room: str) -> str | None:
        """Return the node the room lives on, placing it now if it has none (None: every node is full)."""
        owner = await self._place(keys=[self._room_key(room)], args=[self.prefix, room])
        return _text(owner) if owner else None

    async def owner(self, room: str) -> str | None:
        """Return the node a room is placed on (it may have died since), or None."""
        owner = await self.redis.get(self._room_key(room))
        return _text(owner) if owner else None

    async def release(self, room: str) -> None:
        """Forget a room that ended here, unless it has already been placed elsewhere."""
        await self._release(keys=[self._room_key(room)], args=[self.prefix, room, self.node_id])

    async def claim_again(self, rooms: list[str]) -> list[str]:
        """After a lost lease: keep the live rooms still placed here; return those placed elsewhere since."""
        moved = []
        for room in rooms:
            owner = await self.owner(room)
            if owner == self.node_id:
                await self.redis.sadd(self._rooms_key(), room)
            else:
                moved.append(room)
        return moved

    async def placed_rooms(self) -> set[str]:
        """The rooms Redis has placed on this node (some may not have started here yet, or have ended)."""
        return {_text(room) for room in await self.redis.smembers(self._rooms_key())}

    async def lead(self) -> bool:
        """Take or keep the cluster's leadership (the once-only jobs) under the same lease."""
        return bool(await self._lead(keys=[f"{self.prefix}leader"], args=[self.node_id, self.lease_ms]))

    async def deregister(self) -> None:
        """Leave: resign leadership, forget this node and the placement of its rooms."""
        await self._resign(keys=[f"{self.prefix}leader"], args=[self.node_id])
        for room in await self.placed_rooms():
            await self.release(room)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._node_key(), self._rooms_key())
            pipe.srem(f"{self.prefix}nodes", self.node_id)
            await pipe.execute()

    async def nodes(self) -> list[NodeInfo]:
        """Every node whose lease is live, by id."""
        leader = await self.redis.get(f"{self.prefix}leader")
        leader_id = _text(leader) if leader else None
        found = []
        for raw in sorted(await self.redis.smembers(f"{self.prefix}nodes")):
            node = await self.node(_text(raw), leader_id)
            if node is not None:  # else its lease expired; the next placement forgets it
                found.append(node)
        return found

    async def node(self, node_id: str, leader_id: str | None = None) -> NodeInfo | None:
        """One node, if its lease is live (the relay's look-up of a room's owner)."""
        fields = {_text(k): _text(v) for k, v in (await self.redis.hgetall(self._node_key(node_id))).items()}
        if "capacity" not in fields:
            return None
        placed = await self.redis.scard(self._rooms_key(node_id))
        return NodeInfo(
            node_id=node_id, internal_url=fields.get("internal_url", ""), udp_port=int(fields.get("udp_port", 0)),
            capacity=int(fields["capacity"]), draining=fields.get("draining") == "1",
            started=float(fields.get("started", 0)),
            load=Load(rooms=int(fields.get("rooms", 0)), participants=int(fields.get("participants", 0)),
                      packets_per_s=float(fields.get("packets_per_s", 0)), cpu=float(fields.get("cpu", 0))),
            placed_rooms=placed, leader=node_id == leader_id)


def _load_fields(load: Load) -> dict[str, Any]:
    return {"rooms": load.rooms, "participants": load.participants,
            "packets_per_s": round(load.packets_per_s, 1), "cpu": round(load.cpu, 3)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def open_redis(url: str, timeout: float) -> Any:
    """A Redis client for ``nodes.redis_url`` (imported only among nodes: a single server never needs it)."""
    import redis.asyncio

    return redis.asyncio.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


async def list_nodes(url: str, timeout: float = 5.0) -> list[NodeInfo]:
    """Every live node, as `haven nodes` shows them."""
    client = open_redis(url, timeout)
    try:
        return await NodeDirectory(client, "", 1.0).nodes()
    finally:
        await client.aclose()


async def drain_node(url: str, node_id: str, timeout: float = 5.0) -> bool:
    """Mark a node drained (`haven node drain`); False when no live node has that id."""
    client = open_redis(url, timeout)
    try:
        return await NodeDirectory(client, node_id, 1.0).set_draining()
    finally:
        await client.aclose()
