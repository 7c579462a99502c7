"""Benchmarks, not part of the test suite: ``python -m bench`` (see ``bench/__main__.py``), and
``python -m bench.ack_latency`` for ack bursts alone (SQLite or PostgreSQL)."""
