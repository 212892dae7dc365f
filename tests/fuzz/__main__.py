"""Run the fuzz targets longer than the suite does: ``python -m tests.fuzz [EXAMPLES] [pytest arguments]``.

Each target then runs EXAMPLES examples (default 20000) from a fresh random seed instead of the suite's
fixed few hundred, so every run explores new inputs. A failure prints the falsifying input and a
``@reproduce_failure`` line; turn the input into a plain test in tests/fuzz/test_regressions.py when
fixing it. Extra arguments go to pytest, e.g. ``python -m tests.fuzz 100000 -k rtcp -x``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

DEFAULT_EXAMPLES = 20_000


def main(argv: list[str]) -> int:
    examples = DEFAULT_EXAMPLES
    if argv and argv[0].isdigit():
        examples, argv = int(argv[0]), argv[1:]
    # support.EXAMPLES_ENV, read once when pytest first imports tests/fuzz/support.py. Not imported here:
    # support imports hypothesis, which pytest must import itself to rewrite its plugin's asserts.
    os.environ["HAVEN_FUZZ_EXAMPLES"] = str(examples)
    here = Path(__file__).resolve().parent
    # No per-test timeout: a long run is long on purpose (pyproject.toml sets 300 s for the suite).
    return int(pytest.main(["-p", "no:cacheprovider", "-o", "timeout=0", "-q", str(here), *argv]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
