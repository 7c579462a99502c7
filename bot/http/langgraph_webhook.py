"""``POST /langgraph/webhook``: a LangGraph Server run is over (it waits, ended or failed).

Every run the bot hands to the server carries a webhook URL of its own thread,
``…/langgraph/webhook?thread=<id>&sig=<hmac>``, signed with a key derived from the bot token, so
only someone given that URL can poke the bot, and only about that thread. The request says
nothing the bot trusts beyond "look at this thread now": the bot reads the thread's state from
the server itself. A webhook that never arrives costs only time: the poller looks too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.agents.langgraph_server import server_thread
from bot.http.bodies import TooLarge, json_object, read_capped

PATH = "/langgraph/webhook"
MAX_BODY = 20_000_000  # the server sends the thread's values; nothing here reads them


def webhook_key(bot_token: str) -> bytes:
    return hmac.new(bot_token.encode(), b"langgraph-webhook", hashlib.sha256).digest()


def signature(key: bytes, thread_id: str) -> str:
    return hmac.new(key, thread_id.encode(), hashlib.sha256).hexdigest()


def hook_for(url: str, key: bytes) -> Callable[[str], str]:
    """The webhook URL of a thread's runs, from the bot's public ``url`` of this endpoint."""
    joiner = "&" if "?" in url else "?"

    def hook(thread_id: str) -> str:
        query = urlencode({"thread": thread_id, "sig": signature(key, thread_id)})
        return f"{url}{joiner}{query}"

    return hook


def webhook_route(key: bytes, settled: Callable[[str], None]) -> Route:
    async def receive(request: Request) -> Response:
        thread_id = request.query_params.get("thread", "")
        given = request.query_params.get("sig", "")
        # A signature is hex: anything else (hmac.compare_digest refuses non-ASCII text) is wrong.
        if not (thread_id and given.isascii()) or not hmac.compare_digest(
            signature(key, thread_id), given
        ):
            return JSONResponse({"error": "unknown or unsigned webhook"}, status_code=401)
        try:
            body = await read_capped(request, MAX_BODY)
        except TooLarge:
            return JSONResponse({"error": "request too large"}, status_code=413)
        parsed = json_object(body or b"{}")
        if parsed is None:
            return JSONResponse({"error": "the body is not a JSON object"}, status_code=400)
        about = parsed.get("thread_id")
        if about is not None and str(about) != server_thread(thread_id):
            return JSONResponse({"error": "the run is not this thread's"}, status_code=400)
        settled(thread_id)
        return JSONResponse({"ok": True}, status_code=202)

    return Route(PATH, receive, methods=["POST"])
