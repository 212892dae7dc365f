"""Layering rules read from the source: which package may import which, and who may touch aiortc's insides.

Every never-rule is one named row of RULES. The checkers walk the syntax tree of every module (not a text
grep, so comments and strings do not count) and name file:line for every offence.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The libraries whose private attributes only the seam modules (media/adapter.py, bench/seam.py) may use.
SEAM_LIBRARIES = ("aiortc", "aioice", "pylibsrtp")
# Private attributes of those libraries the seam modules use today. They are always offences elsewhere,
# even where the product's own classes have an attribute of the same name (Producer keeps its own
# ``_send_rtcp``, so ``self._send_rtcp`` is exempt but ``sender._send_rtcp`` is not).
KNOWN_SEAMS = frozenset({
    "_connection", "_nominated", "_protocols", "_rx_srtp", "_tx_srtp", "_handle_rtp_data", "_handle_rtcp_data",
    "_send_rtp", "_ssrc", "_codecs", "_headerExtensions", "_send_rtcp", "_stream_id", "_srtp",
})


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # absolute dotted name; for `from a import b` it is "a.b" (b may be a module or a name)
    written: str  # how the source spelled it, for the message


def package_of(path: str) -> list[str]:
    """Return the package a repository-relative module path belongs to, as its dotted parts."""
    return path.split("/")[:-1]


def imports_of(source: str, path: str) -> Iterator[Import]:
    """Yield every import of a module, relative ones resolved, including import_module('...') calls."""
    package = package_of(path)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            written = f"from {'.' * node.level}{node.module or ''} import ..."
            if node.level == 0:
                base = (node.module or "").split(".")
            elif node.level - 1 > len(package):
                yield Import(node.lineno, "<beyond the repository>", written)
                continue
            else:
                base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            for alias in node.names:
                yield Import(node.lineno, ".".join([*base, alias.name] if alias.name != "*" else base), written)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            target = node.args[0].value
            if called in ("import_module", "__import__") and isinstance(target, str) and not target.startswith("."):
                yield Import(node.lineno, target, f"{called}({target!r})")


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def forbids(*packages: str) -> Callable[[str, str], list[str]]:
    """Return a checker naming each import of anything inside one of ``packages``."""

    def check(source: str, path: str) -> list[str]:
        return [f"{path}:{i.line} {i.written}" for i in imports_of(source, path)
                if any(within(i.module, p) for p in packages) or i.module == "<beyond the repository>"]

    return check


def only_through(package: str, surface: str) -> Callable[[str, str], list[str]]:
    """Return a checker naming each import of ``package`` that is not of its ``surface`` module."""

    def check(source: str, path: str) -> list[str]:
        return [f"{path}:{i.line} {i.written} ({i.module})" for i in imports_of(source, path)
                if within(i.module, package) and not within(i.module, surface)]

    return check


def private_names_in(sources: Iterator[str]) -> set[str]:
    """Return the single-underscore names modules define for themselves (``self._x = ...``, ``def _x``)."""
    names: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
                    and isinstance(node.ctx, ast.Store)):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
    return {n for n in names if n.startswith("_") and not n.endswith("__")}


@cache
def library_privates() -> frozenset[str]:
    """Return the private attribute names aiortc, aioice and pylibsrtp define, minus the ones our own
    modules define too (``live._close`` is a signaling object's method, not aiortc's ``_close``)."""
    theirs: set[str] = set()
    for name in SEAM_LIBRARIES:
        root = Path(importlib.import_module(name).__file__ or "").parent
        theirs |= private_names_in(p.read_text() for p in root.rglob("*.py"))
    ours = private_names_in(p.read_text() for p in modules("media", "signaling", "server", "bench"))
    return frozenset((theirs - ours) | KNOWN_SEAMS)


def is_private(attr: str, privates: frozenset[str]) -> bool:
    # A name-mangled private spelled from outside its class, e.g. _RTCPeerConnection__cname.
    mangled = attr.startswith("_") and attr[1:2].isupper() and "__" in attr[2:] and not attr.endswith("__")
    return attr in privates or mangled


def private_touches(source: str, path: str, privates: frozenset[str] | None = None) -> list[str]:
    """Return 'file:line what' for each use of a private attribute or private module of aiortc, aioice or
    pylibsrtp: attribute access on another object, getattr/setattr/hasattr/delattr with the name, or an
    import of a module whose dotted name has a component starting with ``_``.

    ``self.<name>`` is the module's own attribute, so it is not an access to those libraries.
    """
    known = library_privates() if privates is None else privates
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and is_private(node.attr, known):
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"{path}:{node.lineno} .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and is_private(node.args[1].value, known)
        ):
            found.append(f"{path}:{node.lineno} {node.func.id}(..., {node.args[1].value!r})")
    for i in imports_of(source, path):
        top, *rest = i.module.split(".")
        if top in SEAM_LIBRARIES and any(part.startswith("_") for part in rest):
            found.append(f"{path}:{i.line} {i.written} ({i.module})")
    return found


def modules(*folders: str, exclude: tuple[str, ...] = ()) -> list[Path]:
    found = sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))
    return [p for p in found if p.relative_to(REPO).as_posix() not in exclude]


@dataclass(frozen=True)
class Rule:
    name: str
    folders: tuple[str, ...]
    check: Callable[[str, str], list[str]]
    covers: str  # a module that must be among the checked ones, so a moved tree cannot make the rule vacuous
    exclude: tuple[str, ...] = ()
    xfail: str = ""  # why the rule fails today on code this change does not own; empty while it holds


RULES = [
    Rule("media imports nothing from signaling, server or aiohttp",
         ("media",), forbids("signaling", "server", "aiohttp"), covers="media/router.py"),
    Rule("signaling imports nothing from server and not aiohttp (the socket is a three-method interface)",
         ("signaling",), forbids("server", "aiohttp"), covers="signaling/connection.py"),
    Rule("signaling imports media only through media.api",
         ("signaling",), only_through("media", "media.api"), covers="signaling/room.py"),
    Rule("only media/adapter.py touches private attributes of aiortc, aioice or pylibsrtp in the product",
         ("media", "signaling", "server"), private_touches, covers="media/transport.py",
         exclude=("media/adapter.py",)),
    # bench/instructions.py is the exception by design: it counts the instructions of the media layer's own
    # objects in one process under callgrind (the end-to-end benchmark measures from outside).
    Rule("bench imports nothing from media or signaling (but bench/instructions.py drives media in-process)",
         ("bench",), forbids("media", "signaling"), covers="bench/loadgen.py", exclude=("bench/instructions.py",)),
    Rule("bench/instructions.py imports nothing from signaling or server",
         ("bench",), forbids("signaling", "server"), covers="bench/instructions.py",
         exclude=tuple(p.relative_to(REPO).as_posix() for p in (REPO / "bench").glob("*.py")
                       if p.name != "instructions.py")),
    Rule("only bench/seam.py touches private attributes of aiortc, aioice or pylibsrtp in bench",
         ("bench",), private_touches, covers="bench/loadgen.py", exclude=("bench/seam.py",)),
]


@pytest.mark.parametrize(
    "rule",
    [pytest.param(r, id=r.name, marks=[pytest.mark.xfail(reason=r.xfail, strict=True)] if r.xfail else [])
     for r in RULES],
)
def test_the_never_rule_holds(rule: Rule) -> None:
    files = modules(*rule.folders, exclude=rule.exclude)
    assert REPO / rule.covers in files, f"{rule.covers} is not among the modules checked"
    offences = []
    for path in files:
        offences += rule.check(path.read_text(), path.relative_to(REPO).as_posix())
    assert offences == [], f"{rule.name}, but:\n" + "\n".join(offences)


def test_the_seam_modules_themselves_are_seen_touching_privates() -> None:
    # Proves the private checker is not blind: the two modules allowed to touch privates do.
    for seam in ("media/adapter.py", "bench/seam.py"):
        assert private_touches((REPO / seam).read_text(), seam), f"the checker finds nothing in {seam}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import signaling\n", ["media/x.py:1 import signaling"]),
        ("import os\nimport server.app as app\n", ["media/x.py:2 import server.app"]),
        ("from aiohttp import web\n", ["media/x.py:1 from aiohttp import ..."]),
        ("from signaling.room import Room\n", ["media/x.py:1 from signaling.room import ..."]),
        ("from ..signaling import room\n", ["media/x.py:1 from ..signaling import ..."]),
        ("from .. import server\n", ["media/x.py:1 from .. import ..."]),
        ("from ... import server\n", ["media/x.py:1 from ... import ..."]),
        ("import importlib\nimportlib.import_module('aiohttp.web')\n", ["media/x.py:2 import_module('aiohttp.web')"]),
        ("def f():\n    import aiohttp\n", ["media/x.py:2 import aiohttp"]),
        ("from . import rtp\nfrom .consumer import Slot\nimport aiortc\n", []),
        ("# import signaling\nx = 'from server import app'\n", []),
        ("import signaling_tools\nimport servers\n", []),
    ],
)
def test_the_import_checker_finds_every_form_of_forbidden_import(source: str, expected: list[str]) -> None:
    assert forbids("signaling", "server", "aiohttp")(source, "media/x.py") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from media.api import Router\n", []),
        ("from media import api\n", []),
        ("import media.api\n", []),
        ("from .room import Room\n", []),
        ("from media.router import Router\n", ["signaling/x.py:1 from media.router import ... (media.router.Router)"]),
        ("from media import Router\n", ["signaling/x.py:1 from media import ... (media.Router)"]),
        ("import media\n", ["signaling/x.py:1 import media (media)"]),
        ("from ..media.consumer import Consumer\n",
         ["signaling/x.py:1 from ..media.consumer import ... (media.consumer.Consumer)"]),
        ("import media_tools\n", []),
    ],
)
def test_the_surface_checker_allows_only_the_named_module(source: str, expected: list[str]) -> None:
    assert only_through("media", "media.api")(source, "signaling/x.py") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("dtls.transport._connection._nominated[1]\n", ["x/x.py:1 ._nominated", "x/x.py:1 ._connection"]),
        ("ssrc = sender._ssrc\n", ["x/x.py:1 ._ssrc"]),
        ("cname = pc._RTCPeerConnection__cname\n", ["x/x.py:1 ._RTCPeerConnection__cname"]),
        ("t._codecs = []\n", ["x/x.py:1 ._codecs"]),
        ("getattr(dtls, '_tx_srtp')\n", ["x/x.py:1 getattr(..., '_tx_srtp')"]),
        ("self.pc._headerExtensions\n", ["x/x.py:1 ._headerExtensions"]),
        ("from pylibsrtp._binding import ffi\n",
         ["x/x.py:1 from pylibsrtp._binding import ... (pylibsrtp._binding.ffi)"]),
        ("import aiortc._private\n", ["x/x.py:1 import aiortc._private (aiortc._private)"]),
        ("x._library_only_name\n", ["x/x.py:1 ._library_only_name"]),
        ("self._send_rtcp = send_rtcp\nself._send_rtcp(b'')\n", []),
        ("sender.ssrc\nx._private_thing\nx.__dict__\n", []),
        ("from aiortc.rtp import RtpPacket\nimport _thread\n", []),
    ],
)
def test_the_private_attribute_checker_finds_accesses_on_other_objects(source: str, expected: list[str]) -> None:
    privates = KNOWN_SEAMS | {"_library_only_name"}
    assert sorted(private_touches(source, "x/x.py", privates)) == sorted(expected)


def test_private_names_the_product_defines_too_are_not_taken_for_library_privates() -> None:
    privates = library_privates()
    assert "_close" not in privates  # aiortc has _close methods, and so does signaling's LiveRoom
    assert KNOWN_SEAMS <= privates
    # A name only aiortc defines is caught without being listed (aiortc's RTCRtpSender has _track_id).
    assert private_touches("sender._track_id\n", "x/x.py") == ["x/x.py:1 ._track_id"]
