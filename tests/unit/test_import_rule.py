"""Layering rules read from the source: media/ stands alone, and only media/adapter.py reaches into aiortc.

The checkers walk the syntax tree of every module (not a text grep, so comments and strings do not
count) and name file:line for every offence.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN_PACKAGES = {"signaling", "server", "aiohttp"}

# Private attributes of aiortc/aioice objects that media/adapter.py is the only module allowed to touch.
PRIVATE_SEAMS = {
    "_connection", "_nominated", "_protocols", "_rx_srtp", "_tx_srtp", "_handle_rtp_data", "_handle_rtcp_data",
    "_send_rtp", "_ssrc", "_codecs", "_headerExtensions", "_send_rtcp", "_stream_id", "__cname",
}
# Name-mangled privates of aiortc classes, as they must be spelled from outside: _RTCPeerConnection__cname.
MANGLED_PREFIX = "_RTC"


def modules(*folders: str, exclude: tuple[str, ...] = ()) -> list[Path]:
    found = sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))
    return [p for p in found if p.relative_to(REPO).as_posix() not in exclude]


def forbidden_imports(source: str, name: str) -> list[str]:
    """Return 'file:line what' for each import of a forbidden package or from beyond the package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_PACKAGES:
                    found.append(f"{name}:{node.lineno} import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.split(".")[0] in FORBIDDEN_PACKAGES:
                found.append(f"{name}:{node.lineno} from {module} import ...")
            elif node.level > 1:
                found.append(f"{name}:{node.lineno} from {'.' * node.level}{module} import ... (outside media/)")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            target = node.args[0].value
            if called in ("import_module", "__import__") and isinstance(target, str):
                if target.split(".")[0] in FORBIDDEN_PACKAGES:
                    found.append(f"{name}:{node.lineno} {called}({target!r})")
    return found


def private_accesses(source: str, name: str) -> list[str]:
    """Return 'file:line attribute' for each use of an aiortc/aioice private attribute on another object.

    ``self.<name>`` is the module's own attribute (Producer keeps its own ``_send_rtcp`` callback), so it
    is not an access to aiortc; everything else is, including getattr/setattr/hasattr with the name.
    """
    def private(attr: str) -> bool:
        return attr in PRIVATE_SEAMS or attr.startswith(MANGLED_PREFIX) or attr.endswith("__cname")

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"{name}:{node.lineno} .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
        ):
            found.append(f"{name}:{node.lineno} {node.func.id}(..., {node.args[1].value!r})")
    return found


def test_media_never_imports_signaling_server_or_aiohttp() -> None:
    offences = []
    files = modules("media")
    assert REPO / "media" / "router.py" in files
    for path in files:
        offences += forbidden_imports(path.read_text(), path.relative_to(REPO).as_posix())
    assert offences == [], "media/ must not import signaling, server or aiohttp:\n" + "\n".join(offences)


def test_only_media_adapter_touches_private_attributes_of_aiortc_and_aioice() -> None:
    offences = []
    files = modules("media", "signaling", "server", exclude=("media/adapter.py",))
    assert REPO / "media" / "transport.py" in files and REPO / "media" / "adapter.py" not in files
    for path in files:
        offences += private_accesses(path.read_text(), path.relative_to(REPO).as_posix())
    assert offences == [], "only media/adapter.py may use aiortc/aioice private attributes:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import signaling\n", ["x.py:1 import signaling"]),
        ("import os\nimport server.app as app\n", ["x.py:2 import server.app"]),
        ("from aiohttp import web\n", ["x.py:1 from aiohttp import ..."]),
        ("from signaling.room import Room\n", ["x.py:1 from signaling.room import ..."]),
        ("from ..signaling import room\n", ["x.py:1 from ..signaling import ... (outside media/)"]),
        ("from .. import server\n", ["x.py:1 from .. import ... (outside media/)"]),
        ("import importlib\nimportlib.import_module('aiohttp.web')\n", ["x.py:2 import_module('aiohttp.web')"]),
        ("def f():\n    import aiohttp\n", ["x.py:2 import aiohttp"]),
        ("from . import rtp\nfrom .consumer import Slot\nimport aiortc\n", []),
        ("# import signaling\nx = 'from server import app'\n", []),
        ("import signaling_tools\nimport servers\n", []),
    ],
)
def test_the_import_checker_finds_every_form_of_forbidden_import(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source, "x.py") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("dtls.transport._connection._nominated[1]\n", ["x.py:1 ._nominated", "x.py:1 ._connection"]),
        ("ssrc = sender._ssrc\n", ["x.py:1 ._ssrc"]),
        ("cname = pc._RTCPeerConnection__cname\n", ["x.py:1 ._RTCPeerConnection__cname"]),
        ("t._codecs = []\n", ["x.py:1 ._codecs"]),
        ("getattr(dtls, '_tx_srtp')\n", ["x.py:1 getattr(..., '_tx_srtp')"]),
        ("self.pc._headerExtensions\n", ["x.py:1 ._headerExtensions"]),
        ("self._send_rtcp = send_rtcp\nself._send_rtcp(b'')\n", []),
        ("sender.ssrc\nx._private_thing\n", []),
    ],
)
def test_the_private_attribute_checker_finds_accesses_on_other_objects(source: str, expected: list[str]) -> None:
    assert sorted(private_accesses(source, "x.py")) == sorted(expected)
