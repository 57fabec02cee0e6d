"""Experiments built on the engine (:mod:`core`), kept out of it.

- :mod:`experiments.biascheck`: does balanced data help? The method's downstream experiment
  in the shapes world (``python -m core bias-check``, the dashboard's "Bias check" tab).
"""
