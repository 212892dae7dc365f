"""Fuzz target: ``signaling.protocol.parse_message``, the first code a client's text frame reaches.

For any text it returns a Request or a Pong, or raises ProtocolError with a code of docs/protocol.md
section 3; never another exception, never slowly. Messages are drawn as random text, random JSON values,
and objects built from the real request table with each field valid, mistyped, absent or extreme. What
it accepts must be what the client sent (a valid request round-trips) and must be sendable on to other
participants as a WebSocket text frame (strict UTF-8).
"""

from __future__ import annotations

import inspect
import json
import re
import time
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from signaling import schema
from signaling.protocol import SCHEMAS, Pong, ProtocolError, Request, encode, parse_message
from signaling.schema import LABELS
from tests.fuzz.support import FUZZ

REPO = Path(__file__).resolve().parents[2]


def documented_codes() -> set[str]:
    """Return every error code of docs/protocol.md section 3."""
    text = (REPO / "docs" / "protocol.md").read_text()
    section = text.split("## 3. Error codes", 1)[1].split("\n## ", 1)[0]
    codes = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            codes.update(re.findall(r"`([a-z-]+)`", line.split("|")[1]))
    return codes


CODES = documented_codes()
# parse_message itself can only say these two; the rest belong to later stages.
PARSER_CODES = {"bad-request", "unknown-type"}

# -- strategies ------------------------------------------------------------------------------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
ANY_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.one_of(st.characters(), SURROGATES), max_size=20),
    st.sampled_from(["", "pong", "hello", "chat", "everyone", "x" * 64, "x" * 65, "\x00", "\ud800", "\U0001f600"]),
)
HUGE_INTS = st.one_of(
    st.integers(),
    st.sampled_from([2**31, 2**53 - 1, 2**53, -(2**53), 2**63, -(2**64), 10**300, 0, -1, 1]),
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = st.one_of(st.none(), st.booleans(), HUGE_INTS, FLOATS, ANY_TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=12,
)
# Valid ("sendable") JSON for ``anything`` fields: no NaN (it never equals itself) and no lone surrogates.
CLEAN_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
VALID_IDS = st.one_of(st.integers(-(2**53) + 1, 2**53 - 1), st.text(min_size=1, max_size=64))
# Short strings with a lone surrogate in them (what the JSON escape \ud800 decodes to).
SURROGATE_TEXT = st.tuples(st.text(max_size=6), SURROGATES, st.text(max_size=6)).map("".join)
ANY_IDS = st.one_of(VALID_IDS, SURROGATE_TEXT, JSON_VALUES, st.sampled_from([2**53, True, 1.0, "", "x" * 65]))


def valid_values(check: schema.Check) -> st.SearchStrategy[Any]:
    """Return a strategy of values the field check accepts, read from how the check was built.

    A new kind of check in signaling/schema.py fails here on purpose: teach this function its values.
    """
    if check is schema.boolean:
        return st.booleans()
    if check is schema.label:
        return st.sampled_from(LABELS)
    if check is schema.anything:
        return CLEAN_JSON
    if check is schema.track_list:
        return st.lists(st.sampled_from(LABELS), unique=True, max_size=len(LABELS)).flatmap(
            lambda labels: st.tuples(*[st.text(min_size=1, max_size=32) for _ in labels]).map(
                lambda mids, labels=labels: [{"mid": m, "label": lb} for m, lb in zip(mids, labels, strict=True)]))
    if check is schema.id_list:
        return st.lists(st.text(min_size=1, max_size=128), max_size=5)
    if check is schema.tile_heights:
        return st.dictionaries(st.text(min_size=1, max_size=64), st.integers(0, schema.MAX_TILE_HEIGHT), max_size=8)
    made = check.__qualname__.split(".", 1)[0]
    bound = inspect.getclosurevars(check).nonlocals
    if made == "string":
        low, high = bound["min_len"], bound["max_len"]
        return st.one_of(st.text(min_size=low, max_size=min(high, 40)), st.just("é" * high), st.just("a" * low))
    if made == "optional_string":
        return st.none() | valid_values(bound["check_string"])
    if made == "integer":
        return st.integers(bound["low"], bound["high"])
    if made == "number":
        low, high = bound["low"], bound["high"]
        return st.integers(int(low), int(high)) | st.floats(low, high)
    if made == "one_of":
        return st.sampled_from(bound["values"])
    raise AssertionError(f"tests/fuzz does not know the field check {check.__qualname__}")


KINDS = sorted(SCHEMAS)
WRONG_VALUES = st.one_of(JSON_VALUES, HUGE_INTS, FLOATS, st.just([[[[[]]]]]), st.just({"mid": "0", "label": "camera"}))


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw a request of the table that the parser must accept: (message, the fields it must keep)."""
    kind = draw(st.sampled_from(KINDS))
    message: dict[str, Any] = {"type": kind, "id": draw(VALID_IDS)}
    fields = {}
    for name, (required, check) in SCHEMAS[kind].items():
        if required or draw(st.booleans()):
            fields[name] = message[name] = draw(valid_values(check))
    if draw(st.booleans()):
        message["unknown_field"] = draw(CLEAN_JSON)  # forward compatibility: ignored
    return message, fields


@st.composite
def mutated_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a valid request of the table, then break up to three things in it.

    A field (or the id, or the type) gets a value of the wrong type or range, a string with a lone
    surrogate, or disappears; starting from a valid request keeps most inputs one step from acceptance.
    """
    message, _ = draw(valid_requests())
    names = ["type", "id", *SCHEMAS[message["type"]]]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(names))
        how = draw(st.integers(0, 3))
        if how == 0:
            message.pop(name, None)
        elif how == 1:
            message[name] = draw(WRONG_VALUES)
        elif how == 2:
            message[name] = draw(SURROGATE_TEXT)
        else:
            message[name] = draw(ANY_IDS if name == "id" else JSON_VALUES)
    return message


# -- properties ------------------------------------------------------------------------------------


def parse_or_refuse(text: str) -> Request | Pong | ProtocolError:
    """Parse; return the ProtocolError instead of raising it; let every other exception fail the test."""
    try:
        parsed = parse_message(text)
    except ProtocolError as exc:
        assert exc.code in PARSER_CODES and exc.code in CODES, exc.code
        return exc
    assert isinstance(parsed, (Request, Pong))
    if isinstance(parsed, Request):
        assert_valid(parsed)
    return parsed


def assert_valid(request: Request) -> None:
    """A parsed request obeys its schema and can be sent on to others as a WebSocket text frame."""
    schema_ = SCHEMAS[request.type]
    assert set(request.fields) <= set(schema_)
    for name, (required, check) in schema_.items():
        if required:
            assert name in request.fields
        if name in request.fields:
            assert check(request.fields[name]) is None
    assert isinstance(request.id, (int, str)) and not isinstance(request.id, bool)
    # Every string must survive what aiohttp's send_str does to outgoing text: strict UTF-8. Walked
    # rather than json.dumps'd: an ``anything`` field may nest deeper than json.dumps can recurse.
    stack: list[Any] = [request.id, request.fields]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")
        elif isinstance(item, dict):
            stack += [*item, *item.values()]
        elif isinstance(item, list):
            stack += item


@FUZZ
@given(st.text(st.one_of(st.characters(), SURROGATES)))
def test_any_text_parses_or_is_refused(text: str) -> None:
    parse_or_refuse(text)


@FUZZ
@given(JSON_VALUES)
def test_any_json_value_parses_or_is_refused(value: Any) -> None:
    # json.dumps writes NaN and Infinity as bare tokens and lone surrogates as \ud800 escapes.
    parse_or_refuse(json.dumps(value))


@FUZZ
@given(mutated_requests())
def test_a_mutated_request_parses_or_is_refused(message: dict[str, Any]) -> None:
    parse_or_refuse(json.dumps(message))


@FUZZ
@given(valid_requests())
def test_a_valid_request_round_trips_its_fields(drawn: tuple[dict[str, Any], dict[str, Any]]) -> None:
    message, fields = drawn
    parsed = parse_or_refuse(json.dumps(message, ensure_ascii=bool(len(fields) % 2)))
    assert isinstance(parsed, Request), parsed
    assert (parsed.type, parsed.id) == (message["type"], message["id"])
    assert encode(parsed.fields) == encode(fields)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["type", "id", "text", "to", "rating", "sdp", "x"]), SCALARS), max_size=8))
def test_duplicate_keys_count_as_the_last_one(pairs: list[tuple[str, Any]]) -> None:
    text = "{" + ",".join(f"{json.dumps(key)}:{json.dumps(value)}" for key, value in pairs) + "}"
    got, want = parse_or_refuse(text), parse_or_refuse(json.dumps(dict(pairs)))
    if isinstance(want, ProtocolError):
        assert isinstance(got, ProtocolError) and got.code == want.code
    else:
        assert isinstance(got, type(want))
        assert encode(got.__dict__) == encode(want.__dict__)


@FUZZ
@given(st.sampled_from(["version", "rating", "index", "revision", "id"]),
       st.text("0123456789", min_size=1, max_size=6000), st.sampled_from(["", "-", "0.", "1e", "-1e"]))
def test_huge_numbers_parse_or_are_refused(field: str, digits: str, prefix: str) -> None:
    kind = {"version": "hello", "rating": "checkin-mood", "index": "agenda-set-phase", "revision": "subscriber-answer",
            "id": "leave"}[field]
    parse_or_refuse(f'{{"type":"{kind}","id":1,"token":"t","sdp":"v=0","{field}":{prefix}{digits}}}')


@FUZZ
@given(st.integers(1, 200_000), st.sampled_from(["[", '{"a":', '[{"b":[']), st.booleans())
def test_deep_nesting_is_refused_or_kept_quickly(depth: int, opener: str, closed: bool) -> None:
    closer = {"[": "]", '{"a":': "}", '[{"b":[': "]}]"}[opener]
    nested = opener * depth + "0" + (closer * depth if closed else "")
    started = time.perf_counter()
    parse_or_refuse(f'{{"type":"agenda-update","id":7,"phases":{nested}}}')
    assert time.perf_counter() - started < 0.5


def test_the_documented_codes_were_read() -> None:
    assert {"bad-request", "unknown-type", "internal-error", "invalid-sdp"} <= CODES
