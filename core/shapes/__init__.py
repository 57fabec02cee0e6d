"""The built-in shapes world: a procedural renderer, a small generator and a small scorer.

``world`` (renderer and attribute distributions) is plain numpy; ``generator`` and ``scorer``
load the shipped weights from ``assets/shapes/``; ``train`` regenerates them.
"""
