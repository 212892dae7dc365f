"""A client for Haven's /api/v1 that checks every request it sends and every response it gets against
docs/openapi.yaml (openapi-core), so the document stays exactly what the server does."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@cache
def contract() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC))


class ApiClient:
    """One browser-like caller: its own cookie jar, and the CSRF token it was given at login."""

    def __init__(self, base_url: str, api_key: str | None = None, origin: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = origin  # sent as Origin, as a browser would; None: a program, which sends none
        # unsafe: the test server is an IP address, whose cookies aiohttp otherwise refuses to keep.
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf_token: str | None = None
        self.api_key = api_key

    async def close(self) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None, *, csrf: bool = True, check: bool = True,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send one request; return (status, JSON body or None); validate both sides unless ``check`` is false."""
        sent = {**({"Origin": self.origin} if self.origin else {}), **(headers or {})}
        if self.api_key:
            sent["Authorization"] = f"Bearer {self.api_key}"
        if csrf and self.csrf_token and method != "GET":
            sent["X-CSRF-Token"] = self.csrf_token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(method, self.base_url + path, data=data, headers=sent) as response:
            raw = await response.read()
            status = response.status
            content_type = response.content_type
            answer = json.loads(raw) if raw and content_type == "application/json" else None
        if check:
            validate(method, path, data, sent, status, raw, content_type)
        if isinstance(answer, dict) and answer.get("csrf_token"):
            self.csrf_token = answer["csrf_token"]
        return status, answer


def validate(method: str, path: str, data: bytes | None, headers: dict[str, str], status: int, raw: bytes,
             content_type: str) -> None:
    """Raise unless the request and its response are ones docs/openapi.yaml describes."""
    cookies = {"haven_session": "x"} if "Authorization" not in headers else {}
    request = MockRequest("http://haven.test", method.lower(), urlsplit(path).path, headers=headers, cookies=cookies,
                          data=data, content_type=headers.get("Content-Type", "application/json"))
    # A text body (text/calendar) is validated as the string it is.
    body: bytes | str = raw.decode() if content_type.startswith("text/") else raw
    response = MockResponse(body, status_code=status, content_type=content_type if raw else "application/json")
    contract().validate_response(request, response)
