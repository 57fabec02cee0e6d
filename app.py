"""QDGS Studio dashboard: ``python app.py`` then open http://127.0.0.1:7860.

Server-wide caps come from environment variables (see ``dashboard/settings.py``);
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` choose the address as usual for Gradio.
"""

from __future__ import annotations

import logging
import os

# Before gradio is imported: no usage analytics unless the user asked for them.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import core  # noqa: E402,F401 - the engine and its model registrations
from dashboard.settings import settings_from_env  # noqa: E402
from dashboard.ui import build_demo, launch_options  # noqa: E402
from dashboard.warmup import warm_up_in_background  # noqa: E402

SETTINGS = settings_from_env()

demo = build_demo(SETTINGS)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    warm_up_in_background()  # models and one tiny search, while the page is already served
    demo.launch(**launch_options(SETTINGS))
