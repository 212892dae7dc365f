"""The one hypothesis configuration every fuzz target uses: brief and reproducible in the suite, long on demand.

In the suite each target runs ``SUITE_EXAMPLES`` examples, derandomized (the same inputs on every run)
and without hypothesis' example database, so CI is deterministic and writes nothing. Setting
``HAVEN_FUZZ_EXAMPLES=N`` (what ``python -m tests.fuzz`` does) runs N examples per target from a fresh
random seed instead; a failure prints the seed and a ``@reproduce_failure`` blob to replay it.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

EXAMPLES_ENV = "HAVEN_FUZZ_EXAMPLES"
SUITE_EXAMPLES = 200
LONG_EXAMPLES = int(os.environ.get(EXAMPLES_ENV) or 0)

# Every parser here does microseconds of work per input; a second per example only trips on a real
# blow-up (quadratic or exponential work), not on a slow CI machine.
DEADLINE = timedelta(seconds=1)

FUZZ = settings(
    max_examples=LONG_EXAMPLES or SUITE_EXAMPLES,
    deadline=DEADLINE,
    derandomize=not LONG_EXAMPLES,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
