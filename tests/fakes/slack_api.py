"""In-memory Slack workspace answering Web API methods the way Slack documents them.

``SlackWorkspace.call(method, params)`` returns the JSON body of a successful answer or raises
``SlackError``; authentication, fault injection and HTTP live in ``slack.py``.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import blockkit

TEAM_ID = "T1"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A1"
WORKSPACE_URL = "https://fake.slack.com/"
MAX_POST_TEXT = 40_000
MAX_UPDATE_TEXT = 4_000
# Slack ids are [A-Z0-9]; underscores are tolerated so tests can use readable ids like U_BOSS.
_USER_ID = r"[UW][A-Z0-9_]+"
_CHANNEL_ID = r"[CGD][A-Z0-9_]+"

Params = dict[str, Any]
Json = dict[str, Any]


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> Json:
        return {"ok": False, "error": self.error, **self.extra}


def _invalid_arguments(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": list(messages)})


def _required(params: Params, name: str, error: str | None = None) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise SlackError(error) if error else _invalid_arguments(f"[ERROR] missing {name}")
    return str(value)


def _message_content(params: Params, *, max_text: int) -> tuple[str, Any, Any]:
    text = "" if params.get("text") is None else str(params["text"])
    blocks, attachments = params.get("blocks"), params.get("attachments")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    if len(text) > max_text:
        raise SlackError("msg_too_long")
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    if blocks:
        errors = blockkit.structural_message_errors(blocks)
        if errors:
            messages = [f"[ERROR] {e}" for e in errors]
            raise SlackError(
                "invalid_blocks", errors=errors, response_metadata={"messages": messages}
            )
        if blockkit.blocks_text_length(blocks) > blockkit.MAX_MESSAGE_BLOCKS_TEXT:
            raise SlackError("msg_blocks_too_long")
    return text, blocks, attachments


def _checked_view(params: Params, kind: str) -> Json:
    view = params.get("view")
    errors = blockkit.validate_view(view)
    if not errors and view["type"] != kind:
        errors = [f"must be {kind} [json-pointer:/view/type]"]
    if errors:
        raise _invalid_arguments(*(f"[ERROR] {e}" for e in errors))
    return view


def _cursor(offset: int) -> str:
    """An opaque cursor, as Slack's are (base64 of where the next page starts)."""
    return base64.b64encode(f"member:{offset}".encode()).decode()


def _read_cursor(cursor: str, size: int) -> int:
    try:
        kind, _, offset = base64.b64decode(cursor, validate=True).decode().partition(":")
        start = int(offset)
    except (ValueError, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if kind != "member" or not 0 < start < size:
        raise SlackError("invalid_cursor")
    return start


@dataclass(frozen=True)
class ChannelAccess:
    exists: bool = True
    member: bool = True
    archived: bool = False


class SlackWorkspace:
    """Messages, views and directory data of one fake workspace. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # guards everything below
        self._ts = itertools.count(1_700_000_000_000_100, 100)  # microseconds
        self._ids = itertools.count(1)
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, Json] = {}  # overrides merged into users.info answers
        self.channels: dict[str, Json] = {}  # overrides merged into conversations.info answers
        # What the bot may do in a channel (set_channel); a channel not named here exists and
        # has the bot as a member.
        self.access: dict[str, ChannelAccess] = {}
        # Who is in a channel (set_members), for conversations.members; a channel not named
        # here has the bot alone.
        self.members: dict[str, list[str]] = {}
        self.clear()
        self._methods: dict[str, Callable[[Params], Json]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "views.open": lambda p: self._open_view(p, push=False),
            "views.push": lambda p: self._open_view(p, push=True),
            "views.update": self._update_view,
            "views.publish": self._publish_view,
            "usergroups.users.list": self._usergroup_users,
            "users.info": self._user_info,
            "conversations.info": self._conversation_info,
            "conversations.open": self._open_conversation,
            "conversations.members": self._conversation_members,
        }

    def clear(self) -> None:
        with self.lock:
            self.messages: dict[str, dict[str, Json]] = {}  # channel -> ts -> message
            self.ephemerals: dict[str, list[Json]] = {}
            self.views: dict[str, Json] = {}
            self._home_views: dict[str, str] = {}  # user -> view id
            self.used_triggers: set[str] = set()
            self.expired_triggers: set[str] = set()
            # The app's DMs that exist (conversations.open, or a post to a user id): a D… id
            # is not something a bot may make up.
            self.ims: set[str] = set()

    def register(self, method: str, handler: Callable[[Params], Json]) -> None:
        self._methods[method] = handler

    def knows(self, method: str) -> bool:
        return method in self._methods

    def call(self, method: str, params: Params) -> Json:
        with self.lock:
            return {"ok": True, **self._methods[method](params)}

    @staticmethod
    def dm_channel(user_id: str) -> str:
        return f"D{user_id}"

    def _next_ts(self) -> str:
        micros = next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # -------------------------------------------------------------- chat.*

    def _channel(self, params: Params) -> str:
        channel = _required(params, "channel", "channel_not_found")
        if re.fullmatch(_USER_ID, channel):  # a user id: the app's DM with them, opened
            channel = self.dm_channel(channel)
            self.ims.add(channel)
        elif channel.startswith("D") and channel not in self.ims:
            raise SlackError("channel_not_found")
        return channel

    def set_channel(
        self, channel: str, *, exists: bool = True, member: bool = True, archived: bool = False
    ) -> None:
        with self.lock:
            self.access[channel] = ChannelAccess(exists, member, archived)

    def _check_access(self, channel: str, *, write: bool) -> None:
        """What Slack answers a bot that cannot see a conversation (a private channel or a DM
        between people it is not in: ``channel_not_found``), or cannot write there."""
        access = self.access.get(channel)
        if access is None:
            return
        if not access.exists:
            raise SlackError("channel_not_found")
        if write and access.archived:
            raise SlackError("is_archived")
        if write and not access.member:
            raise SlackError("not_in_channel")

    def _post_message(self, params: Params) -> Json:
        channel = self._channel(params)
        self._check_access(channel, write=True)
        text, blocks, attachments = _message_content(params, max_text=MAX_POST_TEXT)
        ts = self._next_ts()
        message: Json = {
            "type": "message",
            "text": text,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
        }
        optional = {
            "blocks": blocks,
            "attachments": attachments,
            "metadata": params.get("metadata"),
        }
        message.update({k: v for k, v in optional.items() if v is not None})
        thread_ts = params.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            parent = self.messages.get(channel, {}).get(str(thread_ts))
            if parent is not None:
                parent.update(thread_ts=parent["ts"], latest_reply=ts)
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self.messages.setdefault(channel, {})[ts] = message
        return {"channel": channel, "ts": ts, "message": dict(message)}

    def _update(self, params: Params) -> Json:
        channel = self._channel(params)
        self._check_access(channel, write=True)
        message = self.messages.get(channel, {}).get(_required(params, "ts", "message_not_found"))
        if message is None:
            raise SlackError("message_not_found")
        text, blocks, attachments = _message_content(params, max_text=MAX_UPDATE_TEXT)
        if params.get("text") is not None:
            message["text"] = text
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value is not None:  # omitted -> previous value kept; [] -> removed
                message[key] = value
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": dict(message),
        }

    def _post_ephemeral(self, params: Params) -> Json:
        channel = self._channel(params)
        self._check_access(channel, write=True)
        user = _required(params, "user", "user_not_in_channel")
        if channel.startswith("D") and channel != self.dm_channel(user):
            raise SlackError("user_not_in_channel")  # an app's DM has one person in it
        if channel in self.members and user not in self.members[channel]:
            # Slack shows an ephemeral only to a member: someone reading a public channel they
            # have not joined (and clicking its buttons) is not one.
            raise SlackError("user_not_in_channel")
        text, blocks, _ = _message_content(params, max_text=MAX_POST_TEXT)
        ts = self._next_ts()
        entry = {"user": user, "text": text, "blocks": blocks, "message_ts": ts}
        self.ephemerals.setdefault(channel, []).append(entry)
        return {"message_ts": ts}

    def _permalink(self, params: Params) -> Json:
        channel = self._channel(params)
        ts = _required(params, "message_ts", "message_not_found")
        message = self.messages.get(channel, {}).get(ts)
        if message is None:
            raise SlackError("message_not_found")
        link = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
        if message.get("thread_ts", ts) != ts:
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": link}

    # ------------------------------------------------------------- views.*

    def _view_record(self, view: Json, view_id: str, **links: str | None) -> Json:
        record = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view["type"],
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{self._next_ts()}.{next(self._ids)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": links.get("root_view_id") or view_id,
            "previous_view_id": links.get("previous_view_id"),
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        external_id = record["external_id"]
        if external_id and any(
            v["external_id"] == external_id and v["id"] != view_id for v in self.views.values()
        ):
            raise SlackError("duplicate_external_id")
        self.views[view_id] = record
        return record

    def _exchange_trigger(self, params: Params) -> None:
        trigger = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger:
            raise _invalid_arguments("[ERROR] missing trigger_id")
        if trigger in self.expired_triggers:
            raise SlackError("expired_trigger_id")
        if trigger in self.used_triggers:
            raise SlackError("exchanged_trigger_id")
        self.used_triggers.add(str(trigger))

    def _open_view(self, params: Params, *, push: bool) -> Json:
        view = _checked_view(params, "modal")
        self._exchange_trigger(params)
        view_id = f"V{next(self._ids):08d}"
        previous = list(self.views)[-1] if push and self.views else None
        root = self.views[previous]["root_view_id"] if previous else None
        record = self._view_record(view, view_id, root_view_id=root, previous_view_id=previous)
        return {"view": record}

    def _update_view(self, params: Params) -> Json:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("[ERROR] missing view_id or external_id")
        current = self.views.get(str(view_id)) or next(
            (v for v in self.views.values() if external_id and v["external_id"] == external_id),
            None,
        )
        if current is None:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = _checked_view(params, current["type"])
        links = {k: current[k] for k in ("root_view_id", "previous_view_id")}
        return {"view": self._view_record(view, current["id"], **links)}

    def _publish_view(self, params: Params) -> Json:
        user_id = _required(params, "user_id")
        view = _checked_view(params, "home")
        view_id = self._home_views.get(user_id) or f"V{next(self._ids):08d}"
        if params.get("hash") and params["hash"] != self.views.get(view_id, {}).get("hash"):
            raise SlackError("hash_conflict")
        self._home_views[user_id] = view_id
        return {"view": self._view_record(view, view_id)}

    # ------------------------------------------------------ directory data

    def _auth_test(self, params: Params) -> Json:
        return {
            "url": WORKSPACE_URL,
            "team": "Fake Workspace",
            "user": "approvals-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _usergroup_users(self, params: Params) -> Json:
        group = _required(params, "usergroup", "no_such_subteam")
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _user_info(self, params: Params) -> Json:
        user_id = _required(params, "user", "user_not_found")
        if not re.fullmatch(_USER_ID, user_id):
            raise SlackError("user_not_found")
        name = user_id.lower()
        user: Json = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": f"User {user_id}",
            "deleted": False,
            "is_bot": user_id == BOT_USER_ID,
            "tz": "UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "profile": {"real_name": f"User {user_id}", "display_name": name},
        }
        return {"user": {**user, **self.users.get(user_id, {})}}

    def _open_conversation(self, params: Params) -> Json:
        """conversations.open: ``users`` (comma-separated) or ``channel`` (to resume one); the
        app's DM with one person (several make a group DM, which this fake does not keep)."""
        if params.get("channel"):
            channel = str(params["channel"])
            if channel not in self.ims:
                raise SlackError("channel_not_found")
            return {"channel": {"id": channel}, "no_op": True, "already_open": True}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise SlackError("too_many_users")
        for user in users:
            if not re.fullmatch(_USER_ID, user) or self.users.get(user, {}).get("deleted"):
                raise SlackError("user_not_found")
            if user == BOT_USER_ID:
                raise SlackError("cannot_dm_bot")
        if len(users) > 1:
            raise SlackError("not_supported_by_fake", users=users)
        channel = self.dm_channel(users[0])
        opened = channel in self.ims
        self.ims.add(channel)
        return {"channel": {"id": channel}, "no_op": opened, "already_open": opened}

    def _conversation_members(self, params: Params) -> Json:
        """conversations.members: a page of ``limit`` (default 100, at most 999) member ids from
        ``cursor``, and the ``next_cursor`` of the next page ("" after the last). A private
        channel or DM the bot is not in does not exist for it, as for conversations.info."""
        channel_id = _required(params, "channel", "channel_not_found")
        if not re.fullmatch(_CHANNEL_ID, channel_id):
            raise SlackError("channel_not_found")
        self._check_access(channel_id, write=False)
        if (
            not channel_id.startswith("C")
            and not self.access.get(channel_id, ChannelAccess()).member
        ):
            raise SlackError("channel_not_found")
        try:
            limit = int(params.get("limit") or 100)
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        if not 1 <= limit <= 999:
            raise SlackError("invalid_limit")
        members = self.members.get(channel_id, [BOT_USER_ID])
        start = 0
        if params.get("cursor"):
            start = _read_cursor(str(params["cursor"]), len(members))
        end = start + limit
        following = _cursor(end) if end < len(members) else ""
        return {"members": members[start:end], "response_metadata": {"next_cursor": following}}

    def _conversation_info(self, params: Params) -> Json:
        channel_id = _required(params, "channel", "channel_not_found")
        if not re.fullmatch(_CHANNEL_ID, channel_id):
            raise SlackError("channel_not_found")
        self._check_access(channel_id, write=False)
        access = self.access.get(channel_id, ChannelAccess())
        is_im = channel_id.startswith("D")
        channel: Json = {
            "id": channel_id,
            "name": channel_id.lower(),
            "is_channel": channel_id.startswith("C"),
            "is_private": not channel_id.startswith("C"),
            "is_im": is_im,
            "is_member": access.member,
            "is_archived": access.archived,
            "created": 1_700_000_000,
        }
        if is_im:
            channel["user"] = channel_id[1:]
        return {"channel": {**channel, **self.channels.get(channel_id, {})}}
