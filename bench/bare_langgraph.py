"""The bare LangGraph baseline: a paused thread resumed with ``invoke(Command(resume=...))`` on
the bot's own ``PostgresSaver`` (the same pool settings, ``durability="sync"``), whose last node
makes one HTTP POST (``chat.postMessage`` to the fake Slack, with the bot's Slack client).

That is a decision with the bot taken away: no click, no inbox, no claim, no lock, no card
update, no audit, no report.
"""

from __future__ import annotations

import ssl
import uuid
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from bot.slack.web_client import make_client
from bot.store.db.postgres import PostgresDatabase
from tests.fakes.slack import FakeSlack

CHANNEL = "C0BARE"


class State(TypedDict, total=False):
    draft: str
    decision: dict[str, Any]
    posted: str


class BareLangGraph:
    def __init__(
        self, database_url: str, slack: FakeSlack, tls: ssl.SSLContext | None = None
    ) -> None:
        self.db = PostgresDatabase(database_url)
        self.client = make_client(slack.bot_token, slack.api_url, tls=tls)
        self.graph = self._build().compile(checkpointer=self.db.checkpointer())
        self.interrupts: dict[str, str] = {}  # thread -> the interrupt it waits on

    def _build(self) -> StateGraph:
        def review(state: State) -> State:
            return {"decision": dict(interrupt({"kind": "draft", "draft": state["draft"]}))}

        def finalize(state: State) -> State:
            response = self.client.chat_postMessage(channel=CHANNEL, text=state["draft"])
            return {"posted": str(response["ts"])}

        graph = StateGraph(State)
        graph.add_node("review", review)
        graph.add_node("finalize", finalize)
        graph.add_edge(START, "review")
        graph.add_edge("review", "finalize")
        graph.add_edge("finalize", END)
        return graph

    def pause(self, draft: str) -> str:
        """A new thread, run until it waits for a decision; returns its id."""
        thread_id = uuid.uuid4().hex
        out = self.graph.invoke({"draft": draft}, _config(thread_id), durability="sync")
        self.interrupts[thread_id] = out["__interrupt__"][0].id
        return thread_id

    def resume(self, thread_id: str) -> None:
        """The timed part: one approval, answered by interrupt id, as the bot answers it."""
        answer = Command(resume={self.interrupts[thread_id]: {"type": "approve"}})
        self.graph.invoke(answer, _config(thread_id), durability="sync")

    def finished(self, thread_id: str) -> bool:
        """The thread ran to its end and posted (read back from its checkpoint)."""
        state = self.graph.get_state(_config(thread_id))
        return not state.next and bool(state.values.get("posted"))

    def close(self) -> None:
        self.db.close()


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}
