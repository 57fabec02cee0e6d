"""The engine's errors as messages on the page: one mapping, used by every handler.

A user's mistake (:class:`~core.errors.InputError`), missing weights and other errors the
engine raises on purpose become a ``gr.Error`` with the engine's message (which names the
field, the value and what would be accepted) and a title saying which kind it is. Gradio
renders a message as HTML, so the text is escaped: typed text never becomes markup.
"""

from __future__ import annotations

import contextlib
import html
import logging
from typing import Iterator

import gradio as gr

from core import errors

__all__ = ["ui_error", "shown_as_messages", "TITLES"]

log = logging.getLogger(__name__)

TITLES = {
    errors.InputError: "Please check the input",
    errors.WeightsNotFoundError: "Model weights not found",
}
FALLBACK_TITLE = "Could not finish"


def ui_error(exc: BaseException, *, title: str | None = None) -> gr.Error:
    """The ``gr.Error`` the page shows for ``exc`` (message escaped; title by the error's kind)."""
    if title is None:
        title = next((t for kind, t in TITLES.items() if isinstance(exc, kind)), FALLBACK_TITLE)
    return gr.Error(html.escape(str(exc), quote=False), title=title)


@contextlib.contextmanager
def shown_as_messages(*, failure: str | None = None) -> Iterator[None]:
    """Turns the engine's errors raised inside the block into page messages.

    Args:
        failure: When given, any other exception is logged with its traceback and shown as
            this sentence plus the exception's type and text (never a traceback on the page).
    """
    try:
        yield
    except gr.Error:
        raise
    except errors.QDGSError as exc:
        raise ui_error(exc) from None
    except Exception as exc:
        if failure is None:
            raise
        log.exception("%s", failure)
        raise gr.Error(html.escape(f"{failure} ({type(exc).__name__}: {exc})", quote=False), title=FALLBACK_TITLE) from None
