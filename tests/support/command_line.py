"""Running `haven …` in-process as a test does: with no HAVEN_* variable of the machine's leaking in.

tests/unit/conftest.py registers both fixtures: a module that runs commands asks for ``clean_environment``
(``pytestmark = pytest.mark.usefixtures("clean_environment")``), and a test takes ``run``, which returns
(exit code, stdout, stderr); ``Run`` is its type.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from server.cli import main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in list(os.environ):
        if variable.startswith("HAVEN_"):
            monkeypatch.delenv(variable)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
