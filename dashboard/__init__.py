"""QDGS Studio's Gradio dashboard, on top of :mod:`core` (no search logic lives here).

:mod:`dashboard.ui` lays out the page and wires it to :mod:`dashboard.handlers` (plain
functions that hold one :class:`core.run.RunHandle` per session and turn its snapshots into
figures with :mod:`dashboard.plots`, :mod:`dashboard.cards` and :mod:`dashboard.gallery`).
"""
