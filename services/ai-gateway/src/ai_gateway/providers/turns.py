"""Turns for the APIs that want user and model turns to alternate (Anthropic, Gemini)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ai_gateway.chat.types import Message


def alternating_turns(
    messages: tuple[Message, ...],
    *,
    assistant_role: str,
    items_key: str,
    items_of: Callable[[Message], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One turn per run of same-role messages: tool results ride in user turns, so they merge with them."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = assistant_role if message.role == "assistant" else "user"
        items = items_of(message)
        if out and out[-1]["role"] == role:
            out[-1][items_key].extend(items)
        else:
            out.append({"role": role, items_key: items})
    return out
