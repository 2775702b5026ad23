"""Drivers for independent AS4 implementations (PyPI `as4`, `peppol-py`), run in their own venv."""
