"""Block Kit validation with the limits Slack enforces server-side.

Pure functions, usable directly on the bot's block builders:

    assert validate_message_blocks(build_request_message(...)) == []
    assert validate_view(build_approval_modal(...)) == []

Each error reads like Slack's: ``"must be less than 76 characters [json-pointer:/blocks/2/...]"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_BLOCKS_TEXT = 13_200  # total text in one message's blocks -> msg_blocks_too_long
MAX_ID = 255
MAX_MODAL_TEXT = 24
MAX_PRIVATE_METADATA = 3000

TOO_LONG_PREFIX = "total text in blocks"

_SELECTS = {
    f"{prefix}{kind}_select"
    for prefix in ("", "multi_")
    for kind in ("static", "external", "users", "conversations", "channels")
}
_COMMON_ELEMENTS = _SELECTS | {
    "button",
    "checkboxes",
    "datepicker",
    "overflow",
    "radio_buttons",
    "timepicker",
    "workflow_button",
}
_ACTIONS_ELEMENTS = _COMMON_ELEMENTS | {"datetimepicker", "rich_text_input"}
_ACCESSORY_ELEMENTS = _COMMON_ELEMENTS | {"image"}
_INPUT_ELEMENTS = (_COMMON_ELEMENTS - {"button", "overflow", "workflow_button"}) | {
    "datetimepicker",
    "email_text_input",
    "file_input",
    "number_input",
    "plain_text_input",
    "rich_text_input",
    "url_text_input",
}


@dataclass
class _Checker:
    surface: str  # "message" | "modal" | "home"
    errors: list[str] = field(default_factory=list)
    block_ids: set[str] = field(default_factory=set)

    def fail(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def string(
        self, value: Any, pointer: str, *, max_len: int, required: bool = False, min_len: int = 0
    ) -> None:
        if value is None:
            if required:
                self.fail("must provide a string", pointer)
        elif not isinstance(value, str):
            self.fail("must provide a string", pointer)
        elif len(value) > max_len:
            self.fail(f"must be less than {max_len + 1} characters", pointer)
        elif len(value) < min_len:
            self.fail(f"must be more than {min_len - 1} characters", pointer)

    def text(
        self,
        obj: Any,
        pointer: str,
        *,
        max_len: int,
        required: bool = True,
        plain_only: bool = False,
    ) -> None:
        if obj is None:
            if required:
                self.fail("must provide an object", pointer)
            return
        if not isinstance(obj, dict):
            self.fail("must provide an object", pointer)
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.fail(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        self.string(obj.get("text"), f"{pointer}/text", max_len=max_len, required=True, min_len=1)

    def items(self, value: Any, pointer: str, *, max_items: int, min_items: int = 0) -> list[Any]:
        if not isinstance(value, list):
            self.fail("must provide an array", pointer)
            return []
        if len(value) > max_items:
            self.fail(f"must be less than {max_items + 1} items", pointer)
        elif len(value) < min_items:
            self.fail(f"must provide at least {min_items} items", pointer)
        return value


# ---------------------------------------------------------------- elements


def _confirm(c: _Checker, confirm: Any, ptr: str) -> None:
    if confirm is None:
        return
    if not isinstance(confirm, dict):
        c.fail("must provide an object", ptr)
        return
    c.text(confirm.get("title"), f"{ptr}/title", max_len=100, plain_only=True)
    c.text(confirm.get("text"), f"{ptr}/text", max_len=300)
    c.text(confirm.get("confirm"), f"{ptr}/confirm", max_len=30, plain_only=True)
    c.text(confirm.get("deny"), f"{ptr}/deny", max_len=30, plain_only=True)
    if confirm.get("style") not in (None, "primary", "danger"):
        c.fail("must be one of primary, danger", f"{ptr}/style")


def _options(
    c: _Checker,
    options: Any,
    ptr: str,
    *,
    max_items: int,
    min_items: int = 1,
    plain_only: bool = False,
) -> list[Any]:
    """``plain_only``: a select menu's or an overflow's options, whose text and description
    are plain_text only (checkboxes and radio buttons take mrkdwn too)."""
    values = []
    for i, option in enumerate(c.items(options, ptr, max_items=max_items, min_items=min_items)):
        if not isinstance(option, dict):
            c.fail("must provide an object", f"{ptr}/{i}")
            continue
        c.text(option.get("text"), f"{ptr}/{i}/text", max_len=75, plain_only=plain_only)
        c.string(option.get("value"), f"{ptr}/{i}/value", max_len=150, required=True, min_len=1)
        c.text(
            option.get("description"),
            f"{ptr}/{i}/description",
            max_len=75,
            required=False,
            plain_only=plain_only,
        )
        values.append(option.get("value"))
    return values


def _static_select(c: _Checker, el: dict[str, Any], ptr: str) -> None:
    """Slack: exactly one of ``options`` and ``option_groups`` (each at most 100), and an
    ``initial_option`` that is one of the options."""
    if ("options" in el) == ("option_groups" in el):
        c.fail("must provide exactly one of options or option_groups", ptr)
        return
    if "option_groups" in el:
        return
    values = _options(c, el.get("options"), f"{ptr}/options", max_items=100, plain_only=True)
    initial = el.get("initial_option")
    if isinstance(initial, dict) and initial.get("value") not in values:
        c.fail("must match one of the options", f"{ptr}/initial_option")


def _button(c: _Checker, el: dict[str, Any], ptr: str) -> None:
    c.text(el.get("text"), f"{ptr}/text", max_len=75, plain_only=True)
    c.string(el.get("value"), f"{ptr}/value", max_len=2000)
    c.string(el.get("url"), f"{ptr}/url", max_len=3000)
    c.string(el.get("accessibility_label"), f"{ptr}/accessibility_label", max_len=75)
    if el.get("style") not in (None, "primary", "danger"):
        c.fail("must be one of primary, danger", f"{ptr}/style")


def _plain_text_input(c: _Checker, el: dict[str, Any], ptr: str) -> None:
    c.string(el.get("initial_value"), f"{ptr}/initial_value", max_len=3000)
    lengths: dict[str, int] = {}
    for key, lowest in (("min_length", 0), ("max_length", 1)):
        value = el.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            c.fail("must provide an integer", f"{ptr}/{key}")
        elif value > 3000:
            c.fail("must be less than or equal to 3000", f"{ptr}/{key}")
        elif value < lowest:
            c.fail(f"must be greater than or equal to {lowest}", f"{ptr}/{key}")
        else:
            lengths[key] = value
    if lengths.get("min_length", 0) > lengths.get("max_length", 3000):
        c.fail("min_length must not exceed max_length", ptr)


def _image_element(c: _Checker, el: dict[str, Any], ptr: str) -> None:
    if el.get("image_url") is None and el.get("slack_file") is None:
        c.fail("must provide image_url or slack_file", ptr)
    c.string(el.get("image_url"), f"{ptr}/image_url", max_len=3000)
    c.string(el.get("alt_text"), f"{ptr}/alt_text", max_len=2000, required=True)


def _element(c: _Checker, el: Any, ptr: str, allowed: set[str], action_ids: set[str]) -> None:
    if not isinstance(el, dict):
        c.fail("must provide an object", ptr)
        return
    kind = el.get("type")
    if kind not in allowed:
        c.fail(f"unsupported element type {kind!r} here", f"{ptr}/type")
        return
    if kind == "image":
        _image_element(c, el, ptr)
        return
    action_id = el.get("action_id")
    c.string(action_id, f"{ptr}/action_id", max_len=MAX_ID, min_len=1)
    if isinstance(action_id, str):
        if action_id in action_ids:
            c.fail(f"duplicate action_id {action_id!r}", f"{ptr}/action_id")
        action_ids.add(action_id)
    c.text(
        el.get("placeholder"), f"{ptr}/placeholder", max_len=150, required=False, plain_only=True
    )
    _confirm(c, el.get("confirm"), f"{ptr}/confirm")
    if kind == "button":
        _button(c, el, ptr)
    elif kind == "plain_text_input":
        _plain_text_input(c, el, ptr)
    elif kind == "overflow":
        _options(c, el.get("options"), f"{ptr}/options", max_items=5, plain_only=True)
    elif kind in ("checkboxes", "radio_buttons"):
        _options(c, el.get("options"), f"{ptr}/options", max_items=10)
    elif kind.endswith("static_select"):
        _static_select(c, el, ptr)


# ------------------------------------------------------------------ blocks


def _section(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    if block.get("text") is None and block.get("fields") is None:
        c.fail("must provide text or fields", ptr)
    c.text(block.get("text"), f"{ptr}/text", max_len=3000, required=False)
    if block.get("fields") is not None:
        for i, fld in enumerate(c.items(block["fields"], f"{ptr}/fields", max_items=10)):
            c.text(fld, f"{ptr}/fields/{i}", max_len=2000)
    if block.get("accessory") is not None:
        _element(c, block["accessory"], f"{ptr}/accessory", _ACCESSORY_ELEMENTS, set())


def _header(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    c.text(block.get("text"), f"{ptr}/text", max_len=150, plain_only=True)


def _context(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    elements = c.items(block.get("elements"), f"{ptr}/elements", max_items=10, min_items=1)
    for i, el in enumerate(elements):
        el_ptr = f"{ptr}/elements/{i}"
        if isinstance(el, dict) and el.get("type") == "image":
            _image_element(c, el, el_ptr)
        else:
            c.text(el, el_ptr, max_len=3000)


def _actions(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    elements = c.items(block.get("elements"), f"{ptr}/elements", max_items=25, min_items=1)
    action_ids: set[str] = set()
    for i, el in enumerate(elements):
        _element(c, el, f"{ptr}/elements/{i}", _ACTIONS_ELEMENTS, action_ids)


def _input(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    c.text(block.get("label"), f"{ptr}/label", max_len=2000, plain_only=True)
    c.text(block.get("hint"), f"{ptr}/hint", max_len=2000, required=False, plain_only=True)
    if block.get("element") is None:
        c.fail("must provide an object", f"{ptr}/element")
    else:
        _element(c, block["element"], f"{ptr}/element", _INPUT_ELEMENTS, set())


def _image_block(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    _image_element(c, block, ptr)
    c.text(block.get("title"), f"{ptr}/title", max_len=2000, required=False, plain_only=True)


def _rich_text(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    c.items(block.get("elements"), f"{ptr}/elements", max_items=10_000)


def _markdown(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    c.string(block.get("text"), f"{ptr}/text", max_len=12_000, required=True, min_len=1)


def _no_checks(c: _Checker, block: dict[str, Any], ptr: str) -> None:
    pass


_BlockCheck = Callable[[_Checker, dict[str, Any], str], None]
_ALL_SURFACES = frozenset({"message", "modal", "home"})
_BLOCKS: dict[str, tuple[_BlockCheck, frozenset[str]]] = {
    "section": (_section, _ALL_SURFACES),
    "header": (_header, _ALL_SURFACES),
    "divider": (_no_checks, _ALL_SURFACES),
    "context": (_context, _ALL_SURFACES),
    "actions": (_actions, _ALL_SURFACES),
    "image": (_image_block, _ALL_SURFACES),
    "rich_text": (_rich_text, _ALL_SURFACES),
    "markdown": (_markdown, frozenset({"message"})),
    "video": (_no_checks, _ALL_SURFACES),
    "file": (_no_checks, frozenset({"message"})),
    "table": (_no_checks, frozenset({"message"})),
    "input": (_input, frozenset({"modal"})),
}


def _blocks(c: _Checker, blocks: Any, ptr: str, *, max_blocks: int) -> None:
    for i, block in enumerate(c.items(blocks, ptr, max_items=max_blocks)):
        block_ptr = f"{ptr}/{i}"
        if not isinstance(block, dict):
            c.fail("must provide an object", block_ptr)
            continue
        block_id = block.get("block_id")
        c.string(block_id, f"{block_ptr}/block_id", max_len=MAX_ID, min_len=1)
        if isinstance(block_id, str):
            if block_id in c.block_ids:
                c.fail(f"duplicate block_id {block_id!r}", f"{block_ptr}/block_id")
            c.block_ids.add(block_id)
        kind = block.get("type")
        check, surfaces = _BLOCKS.get(kind, (None, frozenset()))
        if check is None:
            c.fail(f"unsupported block type {kind!r}", f"{block_ptr}/type")
        elif c.surface not in surfaces:
            c.fail(f"{kind} blocks are not allowed in a {c.surface}", f"{block_ptr}/type")
        else:
            check(c, block, block_ptr)


# ------------------------------------------------------------------ public


def blocks_text_length(value: Any) -> int:
    """Total length of every ``text`` string inside ``value`` (what msg_blocks_too_long counts)."""
    if isinstance(value, list):
        return sum(blocks_text_length(item) for item in value)
    if isinstance(value, dict):
        total = 0
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                total += len(item)
            else:
                total += blocks_text_length(item)
        return total
    return 0


def structural_message_errors(blocks: Any) -> list[str]:
    """Errors Slack reports as ``invalid_blocks`` for a message's ``blocks``."""
    checker = _Checker("message")
    _blocks(checker, blocks, "/blocks", max_blocks=MAX_MESSAGE_BLOCKS)
    return checker.errors


def validate_message_blocks(blocks: Any) -> list[str]:
    """All problems with a message's blocks; empty when Slack would accept them.

    Besides the structural ``invalid_blocks`` errors this reports (as an error starting with
    ``TOO_LONG_PREFIX``) a total text length that Slack refuses with ``msg_blocks_too_long``.
    """
    errors = structural_message_errors(blocks)
    total = blocks_text_length(blocks)
    if total > MAX_MESSAGE_BLOCKS_TEXT:
        errors.append(
            f"{TOO_LONG_PREFIX} is {total} characters, more than {MAX_MESSAGE_BLOCKS_TEXT}"
            " [json-pointer:/blocks]"
        )
    return errors


def validate_view(view: Any) -> list[str]:
    """Problems with a modal or home-tab ``view``; empty when Slack would accept it."""
    if not isinstance(view, dict):
        return ["must provide an object [json-pointer:/view]"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return ["must be one of modal, home [json-pointer:/view/type]"]
    c = _Checker(kind)
    _blocks(c, view.get("blocks"), "/view/blocks", max_blocks=MAX_VIEW_BLOCKS)
    c.string(view.get("private_metadata"), "/view/private_metadata", max_len=MAX_PRIVATE_METADATA)
    c.string(view.get("callback_id"), "/view/callback_id", max_len=MAX_ID)
    c.string(view.get("external_id"), "/view/external_id", max_len=MAX_ID)
    if kind == "modal":
        c.text(view.get("title"), "/view/title", max_len=MAX_MODAL_TEXT, plain_only=True)
        for key in ("submit", "close"):
            c.text(
                view.get(key),
                f"/view/{key}",
                max_len=MAX_MODAL_TEXT,
                required=False,
                plain_only=True,
            )
        blocks = view.get("blocks") if isinstance(view.get("blocks"), list) else []
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and view.get("submit") is None:
            c.fail("submit is required when an input block is present", "/view/submit")
    return c.errors
