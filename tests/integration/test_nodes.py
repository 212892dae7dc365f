"""Several Haven nodes sharing the rooms through a real Redis (Debian's redis-server on loopback): atomic
placement, a WebSocket relayed from the wrong node, a node killed with -9, a drained node, the audit chain
written by three nodes. The nodes are real `haven serve` processes sharing one data directory and their
records, once in one SQLite file (nodes on one machine) and once in a real PostgreSQL (nodes on several);
every process is stopped by its PID."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import redis.asyncio

from media import adapter
from server.nodes import Load, NodeDirectory
from tests.support.backends import BACKENDS, query, storage_toml, where_for
from tests.support.client import ProtocolClient, ServerError
from tests.support.peers import RandomVp8Track, ToneTrack, eventually
from tests.support.practice_api import ApiClient
from tests.support.redis_server import RedisServer
from tests.support.server_process import ROOT, ServerProcess, free_port, stop_by_pid
from tests.support.server_process import haven_command as haven

LEASE = 2.0


@pytest.fixture
def redis_server(tmp_path):
    with RedisServer(tmp_path / "redis").running() as server:
        yield server


@pytest.fixture
async def redis_client(redis_server):
    client = redis.asyncio.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture(params=BACKENDS)
def records(request, tmp_path):
    """Where the nodes' shared records are: one SQLite file (one machine), or a PostgreSQL database."""
    return where_for(request.param, request, tmp_path)


@pytest.fixture
def nodes(tmp_path, redis_server, records):
    """Three nodes, node-0 … node-2, on one Redis, one data directory and the same records."""
    adapter.set_host_addresses(["127.0.0.1"])  # this process's aiortc peers gather on loopback, as the nodes do
    started = []
    try:
        for i in range(3):
            (tmp_path / f"node{i}").mkdir()
            node = ServerProcess(tmp_path / f"node{i}", data_dir=tmp_path / "data", extra=(
                f'[nodes]\nredis_url = "{redis_server.url}"\nnode_id = "node-{i}"\nlease = "{LEASE:g}s"\n'
                + storage_toml(records)))
            started.append(node)  # before start: one that never becomes healthy is stopped too
            node.start()
        yield started
    finally:
        for node in started:
            node.stop()


def client(node: ServerProcess, room: str, name: str, role: str = "participant") -> ProtocolClient:
    return ProtocolClient(node.base_url, node.issuer.issue(room, name.title(), role, 3600, sub=name), room, name)


async def owner(redis_client, room: str) -> str | None:
    value = await redis_client.get(f"haven:room:{room}")
    return value.decode() if value else None


# -- placement, against Redis alone -------------------------------------------------------------------

async def test_placement_is_atomic_spreads_rooms_and_skips_full_drained_and_dead_nodes(redis_server):
    clients = [redis.asyncio.from_url(redis_server.url) for _ in range(3)]
    try:
        a, b, c = (NodeDirectory(client, f"n{i}", lease=0.6) for i, client in enumerate(clients))
        for directory in (a, b, c):
            await directory.register(f"http://127.0.0.1:{9000}", 10000, capacity=10)

        # Each room's first two joins arrive at two nodes at once: both get the same owner.
        answers = await asyncio.gather(*(d.place(f"room-{i}") for i in range(12) for d in (a if i % 2 else b, c)))
        pairs = list(zip(answers[::2], answers[1::2], strict=True))
        assert all(x == y and x is not None for x, y in pairs), pairs
        owners = [x for x, _ in pairs]
        assert sorted(owners.count(n) for n in ("n0", "n1", "n2")) == [4, 4, 4], owners

        # A full node gets no new room; nor does a drained one.
        assert await a.renew(Load(participants=10))
        assert await b.set_draining()
        assert {await c.place(f"new-{i}") for i in range(3)} == {"n2"}

        # n2 dies (its lease lapses): its rooms are placed afresh on the next join, on a node that can take them.
        assert await a.renew(Load(participants=3))
        for _ in range(4):
            await asyncio.sleep(0.3)
            assert await a.renew(Load(participants=3)) and await b.renew(Load())
        moved = [f"room-{i}" for i, o in enumerate(owners) if o == "n2"]
        assert {await b.place(room) for room in moved} == {"n0"}
        assert [n.node_id for n in await a.nodes()] == ["n0", "n1"]

        # One node leads the once-only jobs; when it leaves, another takes them.
        assert await a.lead() and not await b.lead()
        await a.deregister()
        assert await b.lead()
        assert await b.owner("room-1") is None or await b.owner("room-1") != "n0"
    finally:
        for client in clients:
            await client.aclose()


# -- real nodes -------------------------------------------------------------------------------------

async def test_rooms_spread_over_three_nodes_and_a_socket_on_the_wrong_node_is_relayed_with_media(
        nodes, redis_client, tmp_path):
    hosts = []
    try:
        # Twelve groups start, their therapists' sockets landing on the nodes in turn: four rooms each.
        for i in range(12):
            host = client(nodes[i % 3], f"group-{i}", f"host{i}", "host")
            await host.connect()
            hosts.append(host)
        owners = [await owner(redis_client, f"group-{i}") for i in range(12)]
        assert sorted(owners.count(f"node-{i}") for i in range(3)) == [4, 4, 4], owners

        # `haven nodes` shows each node's rooms and people (counts only) once their leases are renewed.
        async def listed() -> list[dict]:
            done = await asyncio.to_thread(haven, "nodes", "--json", config=nodes[0].config_path)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        await eventually_async(lambda: listed(), lambda rows: sorted(r["rooms"] for r in rows) == [4, 4, 4], 10)
        rows = await listed()
        assert sorted(r["participants"] for r in rows) == [4, 4, 4]
        assert "group-0" not in json.dumps(rows) and "Host0" not in json.dumps(rows)
        # Each node's metrics carry its node label, and no room or person.
        exposition = await asyncio.to_thread(metrics_of, nodes[1])
        assert 'haven_rooms{node="node-1"} 4.0' in exposition
        assert "group-" not in exposition and "host1" not in exposition

        # A member's socket reaches a node that does not own group-0: relayed, she joins and media flows
        # both ways, straight to the owner's own UDP port.
        room_owner = int(owners[0].rsplit("-", 1)[1])
        wrong = nodes[(room_owner + 1) % 3]
        ana = client(wrong, "group-0", "ana")
        await ana.connect()
        hosts.append(ana)
        assert ana.joined["state"] == "admitted"
        host = hosts[0]
        await host.publish({"camera": RandomVp8Track(), "microphone": ToneTrack()})
        await ana.publish({"camera": RandomVp8Track(), "microphone": ToneTrack()})
        await eventually(lambda: host.received_from("ana", "camera") > 20 and ana.received_from("host0", "camera") > 20,
                         20, what="media between the owner's member and the relayed one")
        offers = ana.events_of("subscriber-offer")
        assert offers and f" {nodes[room_owner].udp_port} typ host" in offers[-1]["sdp"]
        assert f" {wrong.udp_port} typ host" not in offers[-1]["sdp"]

        # The relay carries the server's close too: the host ends the session, ana's socket gets 4000.
        await host.request("end-session")
        await eventually(lambda: ana.close_code == 4000, 10, what="the end of the session to reach ana")
    finally:
        for c in hosts:
            await c.close()

    # Three nodes wrote one audit chain: it verifies.
    for node in nodes:
        node.stop()
    done = haven("audit", "verify", config=nodes[0].config_path)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_two_first_joins_at_two_nodes_at_once_meet_in_one_session(nodes, redis_client):
    pairs = []
    try:
        for i in range(5):
            host, ben = client(nodes[0], f"room-{i}", "host", "host"), client(nodes[1 + i % 2], f"room-{i}", "ben")
            pairs += [host, ben]
            await asyncio.gather(host.connect(), ben.connect())
            assert host.joined["session_id"] == ben.joined["session_id"]
    finally:
        for c in pairs:
            await c.close()


async def test_a_killed_node_s_room_moves_on_rejoin_and_what_it_recorded_is_kept(nodes, redis_client, records):
    clients = []
    try:
        host = client(nodes[0], "tuesday", "rivera", "host")
        await host.connect()
        room_owner = await owner(redis_client, "tuesday")
        assert room_owner is not None
        index = int(room_owner.rsplit("-", 1)[1])
        others = [n for i, n in enumerate(nodes) if i != index]
        ana = client(others[0], "tuesday", "ana")
        await ana.connect()
        clients = [host, ana]
        started = time.time()
        await host.request("agenda-start", template="default")
        session_id = host.joined["session_id"]
        # The session's structure is written in the background: wait until the database holds it.
        await eventually(lambda: snapshot_saved_since(records, "tuesday", started), 10,
                         what="the room's snapshot to be written")

        os.kill(nodes[index].process.pid, signal.SIGKILL)
        nodes[index].process.wait(10)

        # Both come back through a live node, with their resume credential, once the dead node's lease lapsed:
        # the room is placed again, and the session goes on where it was.
        for c in (ana, host):
            c.base_url = others[1].base_url
            await reconnect_until_admitted(c, 20)
        assert ana.joined["session_id"] == session_id and ana.joined["state"] == "admitted"
        assert host.joined["room"]["agenda"] is not None
        assert await owner(redis_client, "tuesday") != room_owner
    finally:
        for c in clients:
            await c.close()
    for node in nodes:
        node.stop()
    # What the killed node acknowledged is in the records: the session and both arrivals before the kill.
    joined = {row[0] for row in query(
        records, "SELECT participant_id FROM attendance WHERE session_id = ? AND event IN ('join', 'admitted')",
        (session_id,))}
    assert query(records, "SELECT 1 FROM sessions WHERE id = ?", (session_id,))
    assert {"rivera", "ana"} <= joined, joined
    done = haven("audit", "verify", config=nodes[1].config_path)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_drained_node_takes_no_new_rooms_and_its_rooms_go_on(nodes, redis_client):
    clients = []
    try:
        first = client(nodes[1], "before-drain", "host", "host")
        await first.connect()
        clients.append(first)
        drained = await owner(redis_client, "before-drain")
        done = haven("node", "drain", drained, config=nodes[0].config_path)
        assert done.returncode == 0, done.stderr
        assert "takes no new rooms" in done.stdout
        for i in range(6):
            host = client(nodes[i % 3], f"after-{i}", "host", "host")
            await host.connect()
            clients.append(host)
            assert await owner(redis_client, f"after-{i}") != drained
        # Its own room still runs: a member joins it.
        ben = client(nodes[0], "before-drain", "ben")
        await ben.connect()
        clients.append(ben)
        assert ben.joined["session_id"] == first.joined["session_id"]
        assert "draining" in haven("nodes", config=nodes[0].config_path).stdout
    finally:
        for c in clients:
            await c.close()


def metrics_of(node: ServerProcess) -> str:
    """Scrape a node's /metrics (on the ephemeral port its log names)."""
    for line in node.log_path.read_text().splitlines():
        if '"metrics_listening"' in line:
            port = json.loads(line)["port"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return response.read().decode()
    raise AssertionError("the node did not say where its metrics are")


def snapshot_saved_since(records, room: str, since: float) -> bool:
    rows = query(records, "SELECT saved_at FROM live_sessions WHERE room = ?", (room,))
    return bool(rows) and rows[0][0] >= since


async def reconnect_until_admitted(c: ProtocolClient, seconds: float) -> None:
    """Reconnect as a client does after a lost socket (backoff), until it is in the room again."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            await c.reconnect()
            if c.joined.get("state") == "admitted":
                return
        except Exception:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{c.name} did not get back in within {seconds} s (closed {c.close_code})")
        await asyncio.sleep(0.5)


async def eventually_async(read, ok, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if ok(value):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {seconds} s: {value}")
        await asyncio.sleep(0.3)


async def test_serve_with_two_workers_shares_one_port_and_stops_them_all(tmp_path, redis_server, redis_client):
    adapter.set_host_addresses(["127.0.0.1"])
    internal = free_port()
    config = ServerProcess(tmp_path, extra=(f'[nodes]\nredis_url = "{redis_server.url}"\nnode_id = "box"\n'
                                            f'lease = "{LEASE:g}s"\ninternal_port = {internal}\n'))
    log = open(tmp_path / "workers.log", "w")
    supervisor = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--workers", "2", "--config",
                                   str(config.config_path)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    clients = []
    try:
        async def node_ids() -> list[str]:
            done = await asyncio.to_thread(haven, "nodes", "--json", config=config.config_path)
            return [row["node_id"] for row in json.loads(done.stdout)] if done.returncode == 0 else []

        await eventually_async(node_ids, lambda ids: ids == ["box-w0", "box-w1"], 30)
        # Two groups: one on each worker. Whichever worker the kernel gives a socket to, everyone gets in,
        # and media goes to the UDP port of the worker that owns the room (ice.udp_port + worker).
        for room in ("w-0", "w-1"):
            host = client(config, room, f"host-{room}", "host")
            await host.connect()
            clients.append(host)
        assert sorted([await owner(redis_client, "w-0"), await owner(redis_client, "w-1")]) == ["box-w0", "box-w1"]
        for i in range(4):
            member = client(config, f"w-{i % 2}", f"member{i}")
            await member.connect()
            clients.append(member)
            assert member.joined["state"] == "admitted"
            await member.publish({"camera": RandomVp8Track(), "microphone": ToneTrack()})
        members = clients[2:]
        for member in members:
            worker = int((await owner(redis_client, member.room)).rsplit("w", 1)[1])
            await eventually(lambda m=member: m.events_of("subscriber-offer"), 20, what="a subscriber offer")
            assert f" {config.udp_port + worker} typ host" in member.events_of("subscriber-offer")[-1]["sdp"]
        await eventually(lambda: all(m.received_from(o.name, "camera") > 10 for m in members for o in members
                                     if o is not m and o.room == m.room), 20, what="media within each group")

        # A worker killed with -9 is started again by the supervisor.
        workers = children_of(supervisor.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        await eventually(lambda: len(children_of(supervisor.pid)) == 2 and workers[0] not in children_of(
            supervisor.pid), 20, what="the supervisor to restart the worker")
    finally:
        for c in clients:
            await c.close()
        workers = children_of(supervisor.pid)
        stop_by_pid(supervisor)
        log.close()
    # SIGTERM to the supervisor stopped every worker, and they left Redis.
    assert supervisor.returncode == 0, (tmp_path / "workers.log").read_text()[-3000:]
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
    assert await node_ids() == []


def children_of(pid: int) -> list[int]:
    """The PIDs of a process's children (from /proc), the workers of `haven serve --workers`."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


async def test_bad_hellos_are_answered_as_by_one_server_and_place_no_room(nodes, redis_client, redis_server):
    node = nodes[0]
    garbage = ProtocolClient(node.base_url, "", "room-x", "garbage")
    forged = ProtocolClient(node.base_url, node.issuer.issue("room-y", "Eve", "host", 3600)[:-4] + "AAAA", "room-y")
    try:
        await garbage.open()
        await garbage.send_raw("{not json")
        await eventually(lambda: any(e.get("code") == "bad-request" for e in garbage.events_of("error")), 10,
                         what="bad-request for a frame that is not JSON")
        with pytest.raises(ServerError) as refused:
            await forged.connect()
        assert refused.value.code == "token-bad-signature"
        await eventually(lambda: forged.close_code == 4401, 10, what="the forged token's socket to close")
        assert await redis_client.keys("haven:room:*") == []

        # Redis gone: a room running on this node goes on, its members can come back; a first join elsewhere
        # is told to try again (1013), never served on a guess; the node lives on.
        host, ben = client(node, "running", "host", "host"), client(node, "running", "ben")
        await host.connect()
        await ben.connect()
        assert await owner(redis_client, "running") == "node-0"  # the emptiest nodes tie: the first id wins
        redis_server.stop()
        await host.reconnect()
        assert host.joined["state"] == "admitted"
        await host.close()
        await ben.close()
        late = client(node, "room-z", "host", "host")
        with pytest.raises(ConnectionError):
            await late.connect()
        await eventually(lambda: late.close_code == 1013, 10, what="close 1013 while no placement is possible")
        assert late.close_reason == "node-unavailable"
        assert node.health()["status"] == "ok"
        await late.close()
    finally:
        await garbage.close()
        await forged.close()


def test_a_node_whose_redis_cannot_be_reached_stops_at_start_naming_the_key(tmp_path):
    node = ServerProcess(tmp_path, extra=f'[nodes]\nredis_url = "redis://127.0.0.1:{free_port()}/0"\n')
    done = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--config", str(node.config_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "nodes.redis_url: cannot register this node in Redis" in done.stderr


async def test_a_node_stopped_with_sigterm_hands_its_room_to_another_and_the_session_goes_on(nodes, redis_client):
    host, ana = client(nodes[0], "thursday", "rivera", "host"), client(nodes[1], "thursday", "ana")
    clients = [host, ana]
    try:
        await host.connect()
        await ana.connect()
        await host.request("agenda-start", template="default")
        session_id = host.joined["session_id"]
        index = int((await owner(redis_client, "thursday")).rsplit("-", 1)[1])
        nodes[index].stop()  # SIGTERM: the node writes the room's state, lets it go, and closes with 1001
        assert nodes[index].process.returncode == 0
        await eventually(lambda: host.close_code == 1001 and ana.close_code == 1001, 10, what="1001 for both")
        assert await owner(redis_client, "thursday") is None  # let go at once, not after a lease
        live = next(n for i, n in enumerate(nodes) if i != index)
        for c in (ana, host):
            c.base_url = live.base_url
            await reconnect_until_admitted(c, 15)
        assert host.joined["session_id"] == session_id and host.joined["room"]["agenda"] is not None
        assert await owner(redis_client, "thursday") not in (None, f"node-{index}")
    finally:
        for c in clients:
            await c.close()


async def test_a_node_that_lost_its_lease_never_serves_a_room_placed_elsewhere_meanwhile(nodes, redis_client):
    host, ben = client(nodes[0], "friday", "rivera", "host"), client(nodes[0], "friday", "ben")
    clients = [host, ben]
    try:
        await host.connect()
        await ben.connect()
        first = await owner(redis_client, "friday")
        other = next(f"node-{i}" for i in range(3) if f"node-{i}" != first)
        # The owner's lease lapses (a stalled process, Redis out of reach) and the room is placed on another
        # node meanwhile: what Redis would hold after the owner's lease expired and a join placed it again.
        async with redis_client.pipeline(transaction=True) as pipe:
            pipe.delete(f"haven:node:{first}")
            pipe.set("haven:room:friday", other)
            pipe.srem(f"haven:rooms:{first}", "friday")
            pipe.sadd(f"haven:rooms:{other}", "friday")
            await pipe.execute()
        # At its next renewal the old owner learns it, and sends its members away (1001) instead of serving
        # the room beside the new owner; they come back to the new one.
        await eventually(lambda: host.close_code == 1001 and ben.close_code == 1001, 10,
                         what="the old owner to give the room up")
        for c in (host, ben):
            await reconnect_until_admitted(c, 15)
        assert await owner(redis_client, "friday") == other
        assert ben.joined["session_id"] == host.joined["session_id"]
        assert {n["node_id"] for n in await asyncio.to_thread(lambda: json.loads(
            haven("nodes", "--json", config=nodes[0].config_path).stdout))} == {"node-0", "node-1", "node-2"}
    finally:
        for c in clients:
            await c.close()


async def test_the_practice_is_one_whichever_node_a_clinician_reaches(nodes):
    created = subprocess.run(
        [sys.executable, "-m", "server.cli", "admin", "create-user", "--email", "admin@clinic.example", "--role",
         "admin", "--config", str(nodes[0].config_path)], input="an admin password\n", capture_output=True, text=True,
        cwd=ROOT, timeout=60)
    assert created.returncode == 0, created.stderr
    admin = ApiClient(nodes[0].base_url)
    try:
        status, _ = await admin.call("POST", "/api/v1/login", {"email": "admin@clinic.example",
                                                               "password": "an admin password"})
        assert status == 200
        status, group = await admin.call("POST", "/api/v1/groups", {
            "name": "Evening process group", "kind": "process", "tz": "America/Chicago"})
        assert status == 201
        # The same web session works at another node (a load balancer may send the next request anywhere),
        # and what one node wrote, the others read.
        admin.base_url = nodes[1].base_url
        status, member = await admin.call("POST", f"/api/v1/groups/{group['id']}/members",
                                          {"display_name": "Robin", "tz": "Europe/London"})
        assert status == 201
        admin.base_url = nodes[2].base_url
        status, detail = await admin.call("GET", f"/api/v1/groups/{group['id']}")
        assert status == 200 and [m["display_name"] for m in detail["members"]] == ["Robin"]
        status, _ = await admin.call("POST", "/api/v1/logout")
        assert status == 204
        admin.base_url = nodes[0].base_url
        status, _ = await admin.call("GET", f"/api/v1/groups/{group['id']}", check=False)
        assert status == 401  # logged out everywhere
    finally:
        await admin.close()
