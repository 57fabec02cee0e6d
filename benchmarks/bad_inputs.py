"""Counts what the bad-input corpus gets: clear message, unclear message, crash, silently accepted.

An unclear message does not name the field, or carries typed HTML unescaped to the page; a crash
is an exception, a traceback, or an unexpected failure caught by the search handler's net
("The search failed (IndexError: ...)").

The corpus and the rules are those of ``tests/dashboard/test_bad_inputs.py`` (which asserts 100%
clear): each case goes to a dashboard handler or to ``python -m core`` (in-process), against one
session holding a finished run (stand-in models), and that run must stay listed and openable.

    python benchmarks/bad_inputs.py            # totals
    python benchmarks/bad_inputs.py --cases    # and one line per case
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dashboard.test_bad_inputs import CORPUS, attempt, make_session, session_intact  # noqa: E402

KINDS = ("clear", "unclear", "crash", "accepted")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", action="store_true", help="print one line per case")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # the handlers log each failed search; only the counts matter here
    with tempfile.TemporaryDirectory(prefix="qdgs-bad-inputs-") as tmp:
        root = Path(tmp)
        session = make_session(root)
        counts: collections.Counter = collections.Counter()
        disturbed = []
        for i, case in enumerate(CORPUS):
            scratch = root / f"case-{i:03d}"
            scratch.mkdir()
            outcome = attempt(case, session, scratch)
            counts[outcome.kind] += 1
            intact = session_intact(session)
            if not intact:
                disturbed.append(case.id)
            if args.cases:
                message = outcome.message.replace("\n", " ")
                print(f"{outcome.kind:9s} {case.target:7s} {case.id:38s} {message[:110]}")
    tried = len(CORPUS)
    print(f"tried {tried}: clear message {counts['clear']} ({100 * counts['clear'] / tried:.0f}%), "
          f"unclear or unescaped message {counts['unclear']}, crash {counts['crash']}, silently accepted {counts['accepted']}; "
          f"earlier run intact after every case: {'yes' if not disturbed else 'no: ' + ', '.join(disturbed)}")
    return 0 if counts["clear"] == tried and not disturbed else 1


if __name__ == "__main__":
    sys.exit(main())
