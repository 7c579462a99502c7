"""The HTTP transport: Starlette on uvicorn, Slack requests at ``POST /slack/events``.

Bolt's dispatch is synchronous, so it runs in Starlette's thread pool and the event loop keeps
accepting connections during a burst. Requests Bolt cannot even parse get a 400 -- after the
signature check, so an unsigned request is always a 401.
"""

from __future__ import annotations

import logging

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.starlette.handler import to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger(__name__)
MAX_BODY = 1_000_000


def create_asgi(app: App, signing_secret: str) -> Starlette:
    verifier = SignatureVerifier(signing_secret)

    async def events(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        if not verifier.is_valid_request(body, headers):
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            bolt_request = BoltRequest(
                body=body.decode("utf-8"), query=request.query_params, headers=request.headers
            )
        except Exception:
            logger.warning("unparseable Slack request", exc_info=True)
            return JSONResponse({"error": "malformed payload"}, status_code=400)
        try:
            bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
        except Exception:
            logger.exception("dispatch failed")
            return JSONResponse({"error": "could not handle this request"}, status_code=400)
        if bolt_response.status >= 500:
            logger.error("Bolt answered %s: %s", bolt_response.status, bolt_response.body)
        return to_starlette_response(bolt_response)

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
