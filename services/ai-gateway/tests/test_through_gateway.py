"""The suite's real gateway in front of the AI gateway: the official OpenAI SDK pointed at it works
(plain, streamed, tool calls), and schemathesis finds no 500 in the OpenAPI served through it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import openai
import pytest
import schemathesis
from ai_support import Caller, new_caller, usage_rows
from ai_wire_fakes import TOOL_ARGUMENTS
from gateway.app import create_app
from gateway.settings import GatewaySettings
from portal_core.api_fuzz import fuzz_operations
from portal_core.assertion import Identity
from portal_core.settings import load_settings
from portal_core.test_infra import redis_env
from portal_core.testing import ThreadServer

CALLER = new_caller()
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


class BearerResolver:
    """Stands in for the identity service's session lookup: one API key, one signed-in user."""

    def __init__(self, callers: dict[str, Caller]) -> None:
        self._callers = callers

    async def resolve(self, scope: dict[str, Any], client_ip: str) -> Identity:
        headers: Sequence[tuple[bytes, bytes]] = scope["headers"]
        for name, value in headers:
            if name == b"authorization" and value.startswith(b"Bearer "):
                caller = self._callers.get(value[7:].decode())
                if caller is not None:
                    return Identity(tenant_id=caller.tenant_id, user_id=caller.user_id, client_ip=client_ip)
        return Identity(client_ip=client_ip)


@pytest.fixture(scope="module")
def gateway(service: str) -> Iterator[str]:
    env = {
        "ENVIRONMENT": "test",
        "UPSTREAM_AI_URL": service,
        "RATE_LIMIT_REQUESTS": "100000",
        "REDIS_KEY_PREFIX": f"test:ai-gw:{CALLER.tenant_id}:",
        **redis_env(),
    }
    app = create_app(load_settings(GatewaySettings, env), resolver=BearerResolver({"key-a": CALLER}))
    with ThreadServer(app) as server:
        yield server.url


def sdk(gateway: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway}/api/ai/v1", api_key="key-a", max_retries=0)


async def test_openai_sdk_through_the_gateway_plain(gateway: str) -> None:
    done = await sdk(gateway).chat.completions.create(
        model="local/echo", messages=[{"role": "user", "content": "ping pong"}]
    )
    assert done.choices[0].message.content == "echo: ping pong"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (2, 3) if done.usage else False


async def test_openai_sdk_through_the_gateway_streams_a_tool_call(gateway: str, db: Any) -> None:
    client = sdk(gateway)
    stream = await client.chat.completions.create(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    arguments, name, call_id, finish, usage, deltas = "", None, None, None, None, 0
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                call_id = call.id or call_id
                if call.function and call.function.name:
                    name = call.function.name
                if call.function and call.function.arguments:
                    arguments += call.function.arguments
                    deltas += 1
    assert (name, json.loads(arguments), finish, deltas) == ("get_weather", TOOL_ARGUMENTS, "tool_calls", 3)
    assert usage is not None
    assert usage.total_tokens == 18

    follow_up = await client.chat.completions.create(
        model="openai/gpt-4o",
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": str(call_id),
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": str(call_id), "content": "sunny"},
        ],
        tools=TOOLS,
        stream=True,
    )
    text = "".join([c.choices[0].delta.content or "" async for c in follow_up if c.choices])
    assert text == "Result received: sunny"
    rows = await usage_rows(db, CALLER.tenant_id, wait_for=3)  # the plain test's call, then these two
    assert [r["outcome"] for r in rows if r["stream"]] == ["completed", "completed"]


async def test_openai_sdk_errors_through_the_gateway(gateway: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk(gateway).chat.completions.create(model="nope/none", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"
    anonymous = openai.AsyncOpenAI(base_url=f"{gateway}/api/ai/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await anonymous.models.list()


def test_schemathesis_finds_no_server_error_through_the_gateway(gateway: str) -> None:
    raw = httpx.get(f"{gateway}/api/ai/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    report = fuzz_operations(
        schema,
        base_url=gateway,
        headers=lambda: {"authorization": "Bearer key-a"},
        max_examples=25,
        derandomize=False,
    )
    assert {label.split(" ", 1)[1] for label in report.operations} >= {
        "/api/ai/v1/chat/completions",
        "/api/ai/v1/messages",
        "/api/ai/v1/models",
    }
    assert report.failures == [], "\n".join(report.failures)
    assert report.statuses - {401}, "the generated calls got past authentication"
