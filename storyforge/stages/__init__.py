"""Stages, one per file: pure transformations of typed inputs to typed outputs (see engine/contract.py)."""
