"""The parts of the nodes (server/cluster.py, server/workers.py, the [nodes] config) that need no Redis:
reading the room from a first frame, the once-only jobs, what each worker is told, the config's checks.
Placement, leases and the relay run against a real Redis in tests/integration/test_nodes.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.cluster import OnceJobs, internal_url_of, node_id_of, parse_hello
from server.config import ConfigError, load_config
from server.workers import worker_count, worker_environment


def config(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "haven.toml"
    path.write_text(text)
    return load_config(path, env=env or {})


def refusal(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config(tmp_path, text)
    return info.value


@pytest.mark.parametrize(("frame", "room"), [
    (json.dumps({"type": "hello", "id": 1, "version": 1, "token": "t", "room": "tuesday-group"}), "tuesday-group"),
    (json.dumps({"type": "hello", "room": ""}), None),
    (json.dumps({"type": "hello", "room": "x" * 65}), None),
    (json.dumps({"type": "hello", "room": "no spaces"}), None),
    (json.dumps({"type": "hello", "room": 7}), None),
    (json.dumps({"type": "join", "room": "tuesday-group"}), None),
    (json.dumps(["hello"]), None),
    ("{not json", None),
    (json.dumps({"type": "hello", "room": "r", "pad": "x" * 70_000}), None),
])
def test_the_room_comes_only_from_a_well_formed_hello(frame: str, room: str | None) -> None:
    hello = parse_hello(frame)
    assert (hello[0] if hello else None) == room


def test_the_token_of_a_hello_is_read_without_trusting_its_shape() -> None:
    assert parse_hello(json.dumps({"type": "hello", "room": "r", "token": "abc"})) == ("r", "abc")
    assert parse_hello(json.dumps({"type": "hello", "room": "r", "token": 5})) == ("r", "")
    assert parse_hello(json.dumps({"type": "hello", "room": "r"})) == ("r", "")
    assert parse_hello("[1]") is None
    assert parse_hello("nope") is None


async def test_once_jobs_start_and_stop_once_in_order_and_stop_in_reverse() -> None:
    calls: list[str] = []
    jobs = OnceJobs()
    for name in ("reminders", "retention", "anchor"):
        async def start(name: str = name) -> None:
            calls.append(f"start {name}")

        async def stop(name: str = name) -> None:
            calls.append(f"stop {name}")

        jobs.add(start, stop)
    await jobs.start()
    await jobs.start()  # a node that keeps leading does not start them twice
    await jobs.stop()
    await jobs.stop()
    assert calls == ["start reminders", "start retention", "start anchor",
                     "stop anchor", "stop retention", "stop reminders"]


def test_a_node_is_named_and_reached_where_its_config_says(tmp_path: Path) -> None:
    plain = config(tmp_path, '[server]\nhost = "0.0.0.0"\nport = 8080\n[nodes]\nredis_url = "redis://r:6379/0"\n')
    assert internal_url_of(plain) == "http://127.0.0.1:8080"
    assert node_id_of(plain).endswith("-8080")
    own = config(tmp_path, '[server]\nhost = "10.0.0.5"\nport = 8080\n[nodes]\nredis_url = "redis://r"\n'
                           'node_id = "a"\ninternal_port = 9100\n')
    assert internal_url_of(own) == "http://10.0.0.5:9100" and node_id_of(own) == "a"
    named = config(tmp_path, '[nodes]\nredis_url = "redis://r"\ninternal_url = "http://node-a.internal:8080/"\n')
    assert internal_url_of(named) == "http://node-a.internal:8080"


def test_each_worker_is_its_own_node_on_the_shared_port(tmp_path: Path) -> None:
    base = config(tmp_path, '[server]\nport = 8080\n[ice]\nudp_port = 10000\n[metrics]\nport = 9464\n'
                            '[nodes]\nredis_url = "redis://r"\nnode_id = "box"\n')
    assert [worker_environment(base, i) for i in (0, 1)] == [
        {"HAVEN_NODES_NODE_ID": "box-w0", "HAVEN_SERVER_REUSE_PORT": "true", "HAVEN_NODES_INTERNAL_PORT": "8081",
         "HAVEN_ICE_UDP_PORT": "10000", "HAVEN_METRICS_PORT": "9464"},
        {"HAVEN_NODES_NODE_ID": "box-w1", "HAVEN_SERVER_REUSE_PORT": "true", "HAVEN_NODES_INTERNAL_PORT": "8082",
         "HAVEN_ICE_UDP_PORT": "10001", "HAVEN_METRICS_PORT": "9465"},
    ]
    # What the supervisor sets is a valid config for the worker: the same file with those overrides.
    path = tmp_path / "haven.toml"
    worker = load_config(path, env=worker_environment(base, 1))
    assert worker.server.reuse_port and worker.nodes.internal_port == 8082 and worker.ice.udp_port == 10001
    with pytest.raises(ConfigError) as info:
        worker_environment(config(tmp_path, '[nodes]\nredis_url = "redis://r"\ninternal_url = "http://a:1"\n'), 0)
    assert info.value.key == "nodes.internal_url"


@pytest.mark.parametrize(("text", "count"), [("1", 1), ("4", 4), ("auto", None)])
def test_the_worker_count_is_a_number_or_auto(text: str, count: int | None) -> None:
    assert worker_count(text) == (count or worker_count("auto")) and worker_count(text) >= 1


@pytest.mark.parametrize("text", ["0", "-1", "257", "two", ""])
def test_a_bad_worker_count_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(ValueError, match="--workers"):
        worker_count(text)


@pytest.mark.parametrize(("text", "key"), [
    ('[nodes]\nredis_url = "http://r"\n', "nodes.redis_url"),
    ('[nodes]\ninternal_url = "ftp://a"\n', "nodes.internal_url"),
    ('[nodes]\ninternal_url = "http://a:1/path"\n', "nodes.internal_url"),
    ('[nodes]\nlease = "1s"\n', "nodes.lease"),
    ('[nodes]\ncapacity = 0\n', "nodes.capacity"),
    ('[server]\nport = 8080\n[nodes]\ninternal_port = 8080\n', "nodes.internal_port"),
    ('[server]\nreuse_port = true\n[nodes]\nredis_url = "redis://r"\n', "nodes.internal_port"),
])
def test_a_bad_nodes_setting_stops_the_start_naming_its_key(tmp_path: Path, text: str, key: str) -> None:
    assert refusal(tmp_path, text).key == key
