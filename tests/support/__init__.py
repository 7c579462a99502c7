"""Helpers shared by the test suite: signed Slack requests, a bot process, databases."""
