"""Every third-party import is declared in pyproject.toml where it is used: the product in
`dependencies` (or, for an optional part imported only when configured, such as the PostgreSQL
backend, in that part's own extra), tests/ in the `test` extra, bench/ in the `bench` extra.

A package that only arrives as somebody else's dependency (pylibsrtp through aiortc) or that a
developer happened to have installed (numpy) works until the day it does not; scripts/test installs
into a fresh environment, and this test names the import and the extra it is missing from.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"server", "signaling", "media", "web_client", "bench", "tests"}


def normalized(name: str) -> str:
    """Return a distribution name in its canonical form (PEP 503), so PyJWT and pyjwt compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert name is not None, f"unreadable requirement {requirement!r}"
        names.add(normalized(name.group(0)))
    return names


def declared() -> dict[str, set[str]]:
    with open(REPO / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    product = requirement_names(project["dependencies"])
    extras = project["optional-dependencies"]
    optional = {name for extra, requirements in extras.items() if extra not in ("test", "bench")
                for name in requirement_names(requirements)}
    return {
        "product": product | optional,
        "test": product | requirement_names(extras["test"]),
        "bench": product | requirement_names(extras["bench"]),
    }


def top_level_imports(folder: str) -> dict[str, str]:
    """Return {top-level module: 'file:line'} for every absolute import under a folder."""
    found: dict[str, str] = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def third_party(folder: str) -> dict[str, str]:
    return {m: where for m, where in top_level_imports(folder).items()
            if m not in sys.stdlib_module_names and m not in FIRST_PARTY and m != "__future__"}


@pytest.mark.parametrize(
    ("folders", "extra"),
    [(("server", "signaling", "media"), "product"), (("tests",), "test"), (("bench",), "bench")],
)
def test_every_third_party_import_is_declared_where_it_is_used(folders: tuple[str, ...], extra: str) -> None:
    distributions = importlib.metadata.packages_distributions()
    allowed = declared()[extra]
    missing = []
    for folder in folders:
        for module, where in sorted(third_party(folder).items()):
            names = {normalized(d) for d in distributions.get(module, [])}
            if not names:
                missing.append(f"{where} imports {module}, which no installed distribution provides")
            elif not names & allowed:
                missing.append(f"{where} imports {module} (from {', '.join(sorted(names))}), not declared")
    where_declared = "[project] dependencies" if extra == "product" else f"the {extra!r} extra"
    assert missing == [], f"declare these in {where_declared} of pyproject.toml:\n" + "\n".join(missing)


def test_the_checker_sees_the_imports_that_needed_declaring() -> None:
    # numpy (tests/support/peers.py, bench/media.py) and pylibsrtp (media/adapter.py) were the gaps.
    assert "numpy" in third_party("tests") and "numpy" in third_party("bench")
    assert "pylibsrtp" in third_party("media")
