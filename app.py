"""QDGS Studio dashboard: ``python app.py`` then open http://127.0.0.1:7860.

Server-wide caps come from environment variables (see ``dashboard/settings.py``);
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` choose the address as usual for Gradio.
"""

from __future__ import annotations

import logging
import os

# Before gradio is imported: no usage analytics unless the user asked for them.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import core  # noqa: E402,F401 - makes torchvision importable before anything else loads it
from core.config import PRESETS, RunConfig  # noqa: E402
from core.models import get_models  # noqa: E402
from dashboard.settings import settings_from_env  # noqa: E402
from dashboard.ui import build_demo, launch_options  # noqa: E402

log = logging.getLogger("qdgs.app")

SETTINGS = settings_from_env()


def preload_models() -> None:
    """Loads the built-in models once, at start, so the first Run answers at once."""
    try:
        get_models(RunConfig(measures=next(iter(PRESETS.values()))))
    except Exception as exc:  # noqa: BLE001 - the page still opens and says what is missing
        log.warning("could not preload the shapes models: %s", exc)


demo = build_demo(SETTINGS)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    preload_models()
    demo.launch(**launch_options(SETTINGS))
