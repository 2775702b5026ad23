"""Fixtures for the interop tests: the peers' cached venv and a PEM test PKI (see tests/interop_peers)."""

from tests.interop_peers.fixtures import peer_pki, peer_venv  # noqa: F401  (pytest fixtures)
