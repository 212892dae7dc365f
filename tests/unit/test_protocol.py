"""Tests for signaling.protocol: every request type, every refusal with its exact code and message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from signaling.protocol import (
    LABELS,
    MAX_SDP_CHARS,
    Pong,
    ProtocolError,
    Request,
    encode,
    error,
    parse_message,
    result,
)

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
TWO_TRACKS = [{"mid": "0", "label": "microphone"}, {"mid": "1", "label": "camera"}]

VALID = [
    ({"type": "hello", "id": 1, "version": 1, "token": "abc.def.ghi"}, {"version": 1, "token": "abc.def.ghi"}),
    (
        {"type": "hello", "id": 1, "version": 1, "token": "", "room": "group"},
        {"version": 1, "token": "", "room": "group"},
    ),
    ({"type": "join", "id": 2}, {}),
    ({"type": "leave", "id": 3}, {}),
    (
        {"type": "publish", "id": 4, "sdp": SDP, "tracks": TWO_TRACKS},
        {"sdp": SDP, "tracks": TWO_TRACKS},
    ),
    ({"type": "publish", "id": 4, "sdp": SDP, "tracks": []}, {"sdp": SDP, "tracks": []}),
    ({"type": "unpublish", "id": 5, "track_id": "t-1"}, {"track_id": "t-1"}),
    ({"type": "mute", "id": 6, "track_id": "t-1", "muted": True}, {"track_id": "t-1", "muted": True}),
    ({"type": "mute", "id": 6, "track_id": "t-1", "muted": False}, {"track_id": "t-1", "muted": False}),
    ({"type": "subscriber-answer", "id": 7, "revision": 1, "sdp": SDP}, {"revision": 1, "sdp": SDP}),
    ({"type": "subscriber-answer", "id": 7, "revision": 2**31, "sdp": SDP}, {"revision": 2**31, "sdp": SDP}),
]


def parse(message: Any) -> Request | Pong:
    return parse_message(json.dumps(message))


def refusal(message: Any) -> ProtocolError:
    text = message if isinstance(message, str) else json.dumps(message)
    with pytest.raises(ProtocolError) as info:
        parse_message(text)
    return info.value


@pytest.mark.parametrize(("message", "fields"), VALID, ids=[f"{m['type']}-{i}" for i, (m, _) in enumerate(VALID)])
def test_a_valid_request_parses_into_type_id_and_fields(message: dict, fields: dict) -> None:
    assert parse(message) == Request(message["type"], message["id"], fields)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    assert parse({"type": "join", "id": 1, "future": [1, 2]}) == Request("join", 1, {})


def test_a_pong_needs_no_id() -> None:
    assert parse({"type": "pong"}) == Pong()
    assert parse({"type": "pong", "id": True, "extra": 1}) == Pong()


MISSING = [
    ({"type": "hello", "id": 1, "token": "t"}, '"version" is required for hello'),
    ({"type": "hello", "id": 1, "version": 1}, '"token" is required for hello'),
    ({"type": "publish", "id": 1, "tracks": []}, '"sdp" is required for publish'),
    ({"type": "publish", "id": 1, "sdp": SDP}, '"tracks" is required for publish'),
    ({"type": "unpublish", "id": 1}, '"track_id" is required for unpublish'),
    ({"type": "mute", "id": 1, "track_id": "t"}, '"muted" is required for mute'),
    ({"type": "mute", "id": 1, "muted": True}, '"track_id" is required for mute'),
    ({"type": "subscriber-answer", "id": 1, "sdp": SDP}, '"revision" is required for subscriber-answer'),
    ({"type": "subscriber-answer", "id": 1, "revision": 1}, '"sdp" is required for subscriber-answer'),
]


@pytest.mark.parametrize(("message", "text"), MISSING, ids=[t for _, t in MISSING])
def test_a_missing_field_is_a_bad_request_naming_it(message: dict, text: str) -> None:
    problem = refusal(message)
    assert (problem.code, problem.message, problem.request_id) == ("bad-request", text, 1)
    assert str(problem) == text


ROOM_STRING = '"room" must be a string of 1 to 64 characters'
SDP_STRING = f'"sdp" must be a string of 1 to {MAX_SDP_CHARS} characters'
INTEGER_VERSION = '"version" must be an integer from 0 to 1000000'
INTEGER_REVISION = '"revision" must be an integer from 1 to 2147483648'
BOOLEAN_MUTED = '"muted" must be true or false'
TRACKS_LIST = f'"tracks" must be a list of at most {len(LABELS)} tracks'
TRACK_SHAPE = '"tracks" each track must be an object with exactly "mid" and "label"'

WRONG = [
    ({"type": "hello", "id": 1, "version": "1", "token": "t"}, INTEGER_VERSION),
    ({"type": "hello", "id": 1, "version": True, "token": "t"}, INTEGER_VERSION),
    ({"type": "hello", "id": 1, "version": 1.0, "token": "t"}, INTEGER_VERSION),
    ({"type": "hello", "id": 1, "version": -1, "token": "t"}, INTEGER_VERSION),
    ({"type": "hello", "id": 1, "version": 1_000_001, "token": "t"}, INTEGER_VERSION),
    ({"type": "hello", "id": 1, "version": 1, "token": 5}, '"token" must be a string of 0 to 8192 characters'),
    ({"type": "hello", "id": 1, "version": 1, "token": "x" * 8193}, '"token" must be a string of 0 to 8192 characters'),
    ({"type": "hello", "id": 1, "version": 1, "token": "t", "room": ""}, ROOM_STRING),
    ({"type": "hello", "id": 1, "version": 1, "token": "t", "room": "r" * 65}, ROOM_STRING),
    ({"type": "hello", "id": 1, "version": 1, "token": "t", "room": None}, ROOM_STRING),
    ({"type": "publish", "id": 1, "sdp": "", "tracks": []}, SDP_STRING),
    ({"type": "publish", "id": 1, "sdp": "v" * (MAX_SDP_CHARS + 1), "tracks": []}, SDP_STRING),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": {}}, TRACKS_LIST),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": [{"mid": str(i), "label": "camera"} for i in range(5)]},
     TRACKS_LIST),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": ["0"]}, TRACK_SHAPE),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": [{"mid": "0"}]}, TRACK_SHAPE),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": [{"mid": "0", "label": "camera", "x": 1}]}, TRACK_SHAPE),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": [{"mid": 0, "label": "camera"}]},
     '"tracks" a track mid must be a string of 1 to 32 characters'),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": [{"mid": "m" * 33, "label": "camera"}]},
     '"tracks" a track mid must be a string of 1 to 32 characters'),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": [{"mid": "0", "label": "webcam"}]},
     '"tracks" a track label must be one of camera, microphone, screen, screen-audio'),
    ({"type": "publish", "id": 1, "sdp": SDP, "tracks": [{"mid": "0", "label": ["camera"]}]},
     '"tracks" a track label must be one of camera, microphone, screen, screen-audio'),
    ({"type": "unpublish", "id": 1, "track_id": 7}, '"track_id" must be a string of 1 to 64 characters'),
    ({"type": "unpublish", "id": 1, "track_id": ""}, '"track_id" must be a string of 1 to 64 characters'),
    ({"type": "mute", "id": 1, "track_id": "t", "muted": 1}, BOOLEAN_MUTED),
    ({"type": "mute", "id": 1, "track_id": "t", "muted": 0}, BOOLEAN_MUTED),
    ({"type": "mute", "id": 1, "track_id": "t", "muted": "true"}, BOOLEAN_MUTED),
    ({"type": "mute", "id": 1, "track_id": "t", "muted": None}, BOOLEAN_MUTED),
    ({"type": "subscriber-answer", "id": 1, "revision": 0, "sdp": SDP}, INTEGER_REVISION),
    ({"type": "subscriber-answer", "id": 1, "revision": 2**31 + 1, "sdp": SDP}, INTEGER_REVISION),
    ({"type": "subscriber-answer", "id": 1, "revision": True, "sdp": SDP}, INTEGER_REVISION),
    ({"type": "subscriber-answer", "id": 1, "revision": 1.5, "sdp": SDP}, INTEGER_REVISION),
    ({"type": "subscriber-answer", "id": 1, "revision": 1, "sdp": None}, SDP_STRING),
]


@pytest.mark.parametrize(("message", "text"), WRONG, ids=[f"{i}-{m['type']}" for i, (m, _) in enumerate(WRONG)])
def test_a_field_of_the_wrong_type_or_range_is_a_bad_request_naming_it(message: dict, text: str) -> None:
    problem = refusal(message)
    assert (problem.code, problem.message, problem.request_id) == ("bad-request", text, 1)


@pytest.mark.parametrize(
    "request_id",
    [0, 1, -1, 2**53 - 1, -(2**53) + 1, "a", "x" * 64, "req-42"],
)
def test_an_id_is_an_integer_or_a_string_of_1_to_64_characters(request_id: int | str) -> None:
    assert parse({"type": "join", "id": request_id}) == Request("join", request_id, {})


ID_REFUSED = 'a request needs an "id": an integer or a string of 1-64 characters'


@pytest.mark.parametrize(
    "message",
    [
        {"type": "join"},
        {"type": "join", "id": None},
        {"type": "join", "id": True},
        {"type": "join", "id": False},
        {"type": "join", "id": 1.0},
        {"type": "join", "id": 1.5},
        {"type": "join", "id": ""},
        {"type": "join", "id": "x" * 65},
        {"type": "join", "id": 2**53},
        {"type": "join", "id": -(2**53)},
        {"type": "join", "id": [1]},
        {"type": "join", "id": {"n": 1}},
        {"type": "nonsense", "id": True},
    ],
)
def test_a_request_without_a_usable_id_is_refused_without_an_id(message: dict) -> None:
    problem = refusal(message)
    assert (problem.code, problem.message, problem.request_id) == ("bad-request", ID_REFUSED, None)


@pytest.mark.parametrize(
    ("type_name", "text"),
    [
        ("dance", "unknown request type 'dance'"),
        ("", "unknown request type ''"),
        ("Join", "unknown request type 'Join'"),
        ("result", "unknown request type 'result'"),
        ("x" * 100, f"unknown request type {'x' * 40!r}"),
    ],
)
def test_an_unknown_type_is_refused_with_the_request_id(type_name: str, text: str) -> None:
    problem = refusal({"type": type_name, "id": "r1"})
    assert (problem.code, problem.message, problem.request_id) == ("unknown-type", text, "r1")


@pytest.mark.parametrize("type_value", [None, 1, True, ["join"], {"t": "join"}])
def test_a_type_that_is_not_a_string_is_a_bad_request(type_value: Any) -> None:
    problem = refusal({"type": type_value, "id": 1})
    assert (problem.code, problem.message, problem.request_id) == (
        "bad-request", 'the message needs a string "type"', None
    )


def test_a_message_without_type_is_a_bad_request() -> None:
    problem = refusal({"id": 1})
    assert (problem.code, problem.message) == ("bad-request", 'the message needs a string "type"')


@pytest.mark.parametrize("text", ["[]", '"join"', "1", "null", "true", '[{"type": "join", "id": 1}]'])
def test_a_message_that_is_not_an_object_is_a_bad_request(text: str) -> None:
    problem = refusal(text)
    assert (problem.code, problem.message, problem.request_id) == (
        "bad-request", "the message must be a JSON object", None
    )


@pytest.mark.parametrize("text", ["", "{", "{'type': 'join'}", '{"type": "join", "id": 1,}', "nul", "[" * 100_000])
def test_text_that_is_not_json_is_a_bad_request(text: str) -> None:
    problem = refusal(text)
    assert (problem.code, problem.message, problem.request_id) == ("bad-request", "the message is not valid JSON", None)


def test_every_truncation_of_a_valid_message_is_refused_or_parsed_never_crashes() -> None:
    text = json.dumps({"type": "publish", "id": 4, "sdp": SDP, "tracks": [{"mid": "0", "label": "camera"}]})
    for cut in range(len(text)):
        with pytest.raises(ProtocolError) as info:
            parse_message(text[:cut])
        assert info.value.code == "bad-request"
    assert isinstance(parse_message(text), Request)


def test_result_error_and_encode_build_the_wire_forms() -> None:
    assert result(4) == {"type": "result", "id": 4, "data": {}}
    assert result("a", {"x": 1}) == {"type": "result", "id": "a", "data": {"x": 1}}
    assert error(None, "bad-request", "no") == {"type": "error", "id": None, "code": "bad-request", "message": "no"}
    message = {"type": "result", "id": 1, "data": {"name": "Zoë"}}
    assert encode(message) == '{"type":"result","id":1,"data":{"name":"Zoë"}}'
