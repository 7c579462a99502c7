"""The slack_sdk WebClient every Slack call goes through, and what it retries: each call has one
deadline (``SLACK_TIMEOUT``) for all its tries and their waits, is sent on a kept-alive
connection, and is reported when it fails; a 429 is tried again after its ``Retry-After`` and a
5xx after a backoff, but never a call Slack may have carried out (:mod:`bot.slack.errors`), nor
once its deadline would pass."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.slack.errors import SENT_ONCE, may_have_happened, method_of
from bot.slack.keepalive import Connections, as_http_error

# The deadline of the Slack call this thread is making: its retries and their waits share it.
_call = threading.local()


def _left() -> float:
    """Seconds left of the current call's ``SLACK_TIMEOUT`` (unbounded outside a call)."""
    ends: float | None = getattr(_call, "ends", None)
    return float("inf") if ends is None else ends - time.monotonic()


class _Counted(WebClient):
    """A WebClient that reports every call that fails (Slack said no, or never answered), and
    sends its calls on kept-alive connections (:mod:`bot.slack.keepalive`) instead of a new
    one (a new TLS session) each."""

    failed: Callable[[str], None] = staticmethod(lambda method: None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connections = Connections(self.timeout, self.ssl)

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> Any:
        _call.ends = time.monotonic() + self.timeout  # the whole call, retries included
        try:
            return super().api_call(api_method, *args, **kwargs)
        except Exception:
            self.failed(api_method)
            raise
        finally:
            _call.ends = None

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        # What slack_sdk's own method does with urlopen (its caller reads HTTPError the same
        # way), on a kept-alive connection; through a proxy (or with a body slack_sdk never
        # builds), it is left to urllib.
        data = req.data
        kept = self.proxy is None and url.lower().startswith(("http://", "https://"))
        if not kept or not (data is None or isinstance(data, bytes)):
            return super()._perform_urllib_http_request_internal(url, req)
        answer = self.connections.post(url, data, req.header_items(), within=_left())
        if not 200 <= answer.status < 300:
            raise as_http_error(url, answer)
        if answer.headers.get_content_type() == "application/gzip":
            return {"status": answer.status, "headers": answer.headers, "body": answer.body}
        charset = answer.headers.get_content_charset() or "utf-8"
        body = answer.body.decode(charset)
        return {"status": answer.status, "headers": answer.headers, "body": body}


def _fits(method: str, wait: float) -> bool:
    """Whether a call tried again after ``wait`` seconds is still within its time
    (``SLACK_TIMEOUT``, for all its tries). A call that is not repeatable (``SENT_ONCE``) gets
    the whole time again instead: cut off, a post Slack said it never made would be "outcome
    unknown", never posted again."""
    if method in SENT_ONCE:
        _call.ends = None
        return True
    return wait < _left()


class _ServerErrorRetry(RetryHandler):
    """Sends a call again after a 5xx, unless it is not repeatable and Slack may have carried it
    out (:func:`uncertain`): then the caller hears the error at once; nor once the call's time
    (``SLACK_TIMEOUT``, for all its tries) would be up before it is sent again, unless it is
    not repeatable (``SENT_ONCE``): cut off, its outcome would be unknown."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code < 500:
            return False
        error_code = (response.body or {}).get("error")
        method = method_of(request.url)
        if may_have_happened(method, response.status_code, error_code):
            return False
        wait = self.interval_calculator.calculate_sleep_duration(state.current_attempt)
        if not _fits(method, wait):
            return False
        state.custom_values = {**(state.custom_values or {}), "wait": wait}
        return True

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        time.sleep((state.custom_values or {}).pop("wait", 0.0))  # as checked to fit
        state.increment_current_attempt()


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """Slack's 429, tried again after its ``Retry-After``, but only while the waits of one call
    stay within ``budget`` seconds (``SLACK_TIMEOUT``): a ``Retry-After`` of minutes, slept up to
    five times, held a listener, a worker or the tick that long. Past the budget the caller
    hears the 429 (a card post and a job back off and try again on their own)."""

    def __init__(self, budget: float, max_retry_count: int = 5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.budget = budget

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        slept = (state.custom_values or {}).get("slept", 0.0)
        wait = _retry_after(response) + 1  # + its up to 1 s of jitter
        return slept + wait <= self.budget and _fits(method_of(request.url), wait)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is not None:
            state.custom_values = state.custom_values or {}
            slept = state.custom_values.get("slept", 0.0)
            state.custom_values["slept"] = slept + _retry_after(response) + 1
        super().prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


def _retry_after(response: HttpResponse) -> float:
    """The seconds a 429 asks to wait (slack_sdk's reading: 1 when it does not say)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            try:
                return float(values[0])
            except (IndexError, TypeError, ValueError):
                return 1.0
    return 1.0


def make_client(
    token: str,
    base_url: str,
    timeout: int = 15,
    failed: Callable[[str], None] | None = None,
    retry_server_errors: bool = True,
    tls: ssl.SSLContext | None = None,
) -> WebClient:
    """``failed`` hears the method of every call that fails (for the metrics);
    ``retry_server_errors=False``: a 5xx is the caller's to retry (card posts back off on their
    own, so one card's failing channel never holds up the next card's post); ``tls``: the
    certificates to trust (default: the system's, or ``SSL_CERT_FILE``)."""
    # Retried here: 429 (honouring Retry-After) and a 5xx that leaves nothing twice (any call
    # answered 503; a repeatable call, such as chat.update, answered any 5xx). Not a dropped
    # connection, which slack_sdk's WebClient retries by default, nor a post answered 500:
    # chat.postMessage is not idempotent, and Slack may have posted before it failed. The
    # bot's own sweeps retry what certainly failed; the effect ledger records the rest as
    # unknown.
    client = _Counted(token=token, base_url=base_url, timeout=timeout, retry_handlers=[], ssl=tls)
    if failed is not None:
        client.failed = failed
    client.retry_handlers.append(_RateLimitRetry(budget=timeout))
    if retry_server_errors:
        client.retry_handlers.append(_ServerErrorRetry(max_retry_count=3))
    return client
