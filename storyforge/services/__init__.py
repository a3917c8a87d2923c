"""Service adapters, one backend per file. Stages see them only through the protocols in `protocols.py`."""
