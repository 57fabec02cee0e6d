"""``app.py`` as a module: analytics off by default, caps from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os, app
print(os.environ["GRADIO_ANALYTICS_ENABLED"])
print(app.demo._queue.default_concurrency_limit, app.demo._queue.max_size)
print(app.SETTINGS.max_evaluations, app.SETTINGS.max_export_images)
run = next(d for d in app.demo.fns.values() if d.api_name == "run")
print(run.concurrency_limit, run.concurrency_id)
"""


def test_app_module_reads_env_and_turns_analytics_off(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED"}
    env |= {"QDGS_CONCURRENCY": "3", "QDGS_QUEUE_SIZE": "7", "QDGS_MAX_EVALUATIONS": "800", "QDGS_MAX_EXPORT_IMAGES": "90", "QDGS_RUNS_ROOT": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()[-4:]
    assert lines == ["False", "3 7", "800 90", "3 heavy"]
