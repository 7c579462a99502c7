"""In-process fakes of Slack and OpenAI for tests that drive the real bot over HTTP."""

from .blockkit import validate_message_blocks, validate_view
from .openai import FakeOpenAI
from .slack import Call, FakeSlack

__all__ = ["Call", "FakeOpenAI", "FakeSlack", "validate_message_blocks", "validate_view"]
