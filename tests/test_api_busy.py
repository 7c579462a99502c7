"""The HTTP API when a run stays busy past the lock's wait: a clear 503 that says to come
again (with ``Retry-After``), nothing decided, never a 500."""

from __future__ import annotations

import threading

from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.domain.models import RunRequest
from tests.support.cards import wait_card
from tests.support.inprocess import Clock, inprocess_deps

TOKEN = "req-token-0123456789abcdef"


def test_a_decision_on_a_busy_run_is_a_503_to_retry_and_changes_nothing(
    fake_slack, fake_openai, tmp_path
):
    deps = inprocess_deps(
        fake_slack,
        fake_openai,
        f"sqlite:///{tmp_path / 'bot.db'}",
        Clock(),
        API_TOKENS=f"req:{TOKEN}:U0REQ",
    )
    try:
        run = deps.engine.start(RunRequest("draft", "Post the notes", "U0REQ", "C0REQ", "C0REQ"))
        card = wait_card(fake_slack)
        assert deps.api is not None
        deps.api.decide_wait = 0.3
        taken, release = threading.Event(), threading.Event()

        def hold() -> None:  # another call by the same token on this run, not done yet
            with deps.db.key_lock(f"api:req:{run.thread_id}"):
                taken.set()
                release.wait(30)

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert taken.wait(10)
        with TestClient(Starlette(routes=deps.api.routes())) as client:
            answer = client.post(
                f"/api/runs/{run.thread_id}/decision",
                json={"decision": "approve"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        release.set()
        holder.join(10)
        assert answer.status_code == 503, answer.text
        assert answer.json()["retry"] is True and "busy" in answer.json()["error"]
        assert answer.headers["retry-after"] == "2"
        approval = deps.store.get_approval(card.approval_id)
        assert approval is not None and approval.pending  # nothing was decided
    finally:
        deps.close()
