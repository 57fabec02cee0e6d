"""``app.py`` as a module: analytics off by default, caps from the environment, leftovers cleaned."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from core.runs import PARTIAL_MIN_AGE_SECONDS

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os, app
print(os.environ["GRADIO_ANALYTICS_ENABLED"])
print(app.demo._queue.default_concurrency_limit, app.demo._queue.max_size)
print(app.SETTINGS.max_evaluations, app.SETTINGS.max_export_images)
run = next(d for d in app.demo.fns.values() if d.api_name == "run")
print(run.concurrency_limit, run.concurrency_id)
"""


def test_app_module_reads_env_turns_analytics_off_and_cleans_partials(tmp_path):
    # what a server killed mid-export leaves in its runs root: a hidden partial zip
    exports = tmp_path / "session-0123456789abcdef" / "run-001-120000" / "exports"
    exports.mkdir(parents=True)
    stale, young, done = exports / ".run-001.zip.a1b2c3.tmp", exports / ".run-002.zip.d4e5f6.tmp", exports / "run-000.zip"
    for path in (stale, young, done):
        path.write_bytes(b"PK\x03\x04")
    then = time.time() - PARTIAL_MIN_AGE_SECONDS - 5
    os.utime(stale, (then, then))
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED"}
    env |= {"QDGS_CONCURRENCY": "3", "QDGS_QUEUE_SIZE": "7", "QDGS_MAX_EVALUATIONS": "800", "QDGS_MAX_EXPORT_IMAGES": "90", "QDGS_RUNS_ROOT": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()[-4:]
    assert lines == ["False", "3 7", "800 90", "3 heavy"]
    assert not stale.exists()  # removed at start-up
    assert young.exists() and done.exists()  # a write that may still be going on, and a finished zip
