"""The store the core is given: every table group's rows behind one object, over
:mod:`bot.store.db`. Each group is a module of its own (runs, requests and their cards,
decisions, clicks, jobs; remembered-approval rules and the audit log are apart); the SQL each
runs is in the module of :mod:`bot.store.sql` named for it."""

from __future__ import annotations

from bot.domain.models import new_id
from bot.store.attempts import AttemptRows
from bot.store.clicks import ClickRows
from bot.store.decisions import DecisionRows
from bot.store.jobs import JobRows
from bot.store.requests import RequestRows
from bot.store.rows import Clock, Rows
from bot.store.runs import RunRows

__all__ = ["Clock", "Rows", "Store", "new_id"]


class Store(RunRows, RequestRows, DecisionRows, AttemptRows, ClickRows, JobRows):
    """Runs, approval requests, decisions, clicks and jobs."""
