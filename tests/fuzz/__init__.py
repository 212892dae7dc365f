"""Property-based fuzz targets (hypothesis) for everything that parses bytes or text from the network.

The suite runs them briefly and deterministically; ``python -m tests.fuzz`` runs the same targets longer
with fresh random inputs (see ``tests/fuzz/__main__.py``).
"""
