"""A tool-calling conversation through each provider, with each client API, plain and streamed.

The clients are the official SDKs pointed at the AI gateway; the gateway's providers are the official
SDKs pointed at local servers speaking each provider's wire protocol. Both directions are checked: the
tool definition and the tool result reach the provider in its own format, and the provider's tool call
reaches the client in the client's format (streamed as argument deltas).
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from ai_support import Caller
from ai_wire_fakes import TOOL_ARGUMENTS, field

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
}
MODELS = {
    "openai": "openai/gpt-4o-mini",
    "anthropic": "anthropic/claude-sonnet-4-5",
    "gemini": "gemini/gemini-2.5-flash",
}
TOOL_RESULT = {"temperature": 21, "sky": "clear"}


def openai_client(service: str, caller: Caller) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{service}/api/ai/v1", api_key="unused", default_headers=caller.headers, max_retries=0
    )


def anthropic_client(service: str, caller: Caller) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=f"{service}/api/ai", api_key="unused", default_headers=caller.headers, max_retries=0
    )


async def openai_turn(client: openai.AsyncOpenAI, model: str, messages: list[Any], stream: bool) -> dict[str, Any]:
    """One turn through the OpenAI API: returns {"text", "calls": [(id, name, args)], "finish"}."""
    tools: Any = [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
        }
    ]
    if not stream:
        done = await client.chat.completions.create(model=model, messages=messages, tools=tools)
        message = done.choices[0].message
        calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
        return {"text": message.content or "", "calls": calls, "finish": done.choices[0].finish_reason}
    text, finish, pieces, usage = "", None, {}, None
    chunks = await client.chat.completions.create(model=model, messages=messages, tools=tools, stream=True)
    async for chunk in chunks:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                entry = pieces.setdefault(call.index, {"id": call.id, "name": None, "args": [], "deltas": 0})
                if call.function and call.function.name:
                    entry["name"] = call.function.name
                if call.function and call.function.arguments:
                    entry["args"].append(call.function.arguments)
    assert usage is not None, "a stream ends with usage"
    assert usage.total_tokens > 0
    calls = [(p["id"], p["name"], json.loads("".join(p["args"]))) for p in pieces.values()]
    deltas = [len(p["args"]) for p in pieces.values()]
    return {"text": text, "calls": calls, "finish": finish, "deltas": deltas}


async def anthropic_turn(
    client: anthropic.AsyncAnthropic, model: str, messages: list[Any], stream: bool
) -> dict[str, Any]:
    tools: Any = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
    if not stream:
        done = await client.messages.create(model=model, max_tokens=256, messages=messages, tools=tools)
    else:
        deltas = 0
        async with client.messages.stream(model=model, max_tokens=256, messages=messages, tools=tools) as events:
            async for event in events:
                if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    deltas += 1
            done = await events.get_final_message()
        assert done.usage.output_tokens > 0, "a stream ends with usage"
    # Every wire fake reports 11 input tokens of which 3 cached; Anthropic counts cache reads apart.
    assert (done.usage.input_tokens, done.usage.cache_read_input_tokens) == (8, 3)
    text = "".join(b.text for b in done.content if b.type == "text")
    calls = [(b.id, b.name, b.input) for b in done.content if b.type == "tool_use"]
    out = {"text": text, "calls": calls, "finish": done.stop_reason}
    if stream:
        out["deltas"] = [deltas] if calls else []
    return out


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_openai_api_tool_round_trip(
    service: str, fakes: Any, caller: Caller, provider: str, stream: bool
) -> None:
    client = openai_client(service, caller)
    model = MODELS[provider]
    messages: list[Any] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}]

    first = await openai_turn(client, model, messages, stream)

    assert first["finish"] == "tool_calls"
    [(call_id, name, args)] = first["calls"]
    assert (name, args) == ("get_weather", TOOL_ARGUMENTS)
    if stream and provider != "gemini":  # Gemini sends a call whole; the others stream its arguments in pieces
        assert first["deltas"] == [3]
    assert_tool_definition_reached(fakes.by_name(provider), provider)

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps(TOOL_RESULT)},
    ]
    second = await openai_turn(client, model, messages, stream)

    assert second["finish"] == "stop"
    assert second["text"].startswith("Result received: ")
    assert json.loads(second["text"].removeprefix("Result received: ")) == TOOL_RESULT
    assert_tool_result_reached(fakes.by_name(provider), provider, call_id)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_anthropic_api_tool_round_trip(
    service: str, fakes: Any, caller: Caller, provider: str, stream: bool
) -> None:
    client = anthropic_client(service, caller)
    model = MODELS[provider]
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]

    first = await anthropic_turn(client, model, messages, stream)

    assert first["finish"] == "tool_use"
    [(call_id, name, args)] = first["calls"]
    assert (name, args) == ("get_weather", TOOL_ARGUMENTS)
    if stream:
        assert first["deltas"][0] >= 1
    assert_tool_definition_reached(fakes.by_name(provider), provider)

    messages += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": name, "input": args}]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call_id, "content": json.dumps(TOOL_RESULT)}],
        },
    ]
    second = await anthropic_turn(client, model, messages, stream)

    assert second["finish"] == "end_turn"
    assert json.loads(second["text"].removeprefix("Result received: ")) == TOOL_RESULT
    assert_tool_result_reached(fakes.by_name(provider), provider, call_id)


def assert_tool_definition_reached(fake: Any, provider: str) -> None:
    body = fake.requests[0]["body"]
    if provider == "openai":
        assert body["tools"][0]["function"] == {
            "name": "get_weather",
            "description": "Weather",
            "parameters": WEATHER_SCHEMA,
        }
    elif provider == "anthropic":
        assert body["tools"][0] == {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
    else:
        declaration = field(body["tools"][0], "functionDeclarations")[0]
        assert (declaration["name"], field(declaration, "parametersJsonSchema")) == ("get_weather", WEATHER_SCHEMA)


def assert_tool_result_reached(fake: Any, provider: str, call_id: str) -> None:
    body = fake.requests[-1]["body"]
    if provider == "openai":
        assistant, tool = body["messages"][-2], body["messages"][-1]
        assert assistant["tool_calls"][0]["id"] == call_id
        assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == TOOL_ARGUMENTS
        assert (tool["role"], tool["tool_call_id"], json.loads(tool["content"])) == ("tool", call_id, TOOL_RESULT)
    elif provider == "anthropic":
        assistant, user = body["messages"][-2], body["messages"][-1]
        assert assistant["content"][-1] == {
            "type": "tool_use",
            "id": call_id,
            "name": "get_weather",
            "input": TOOL_ARGUMENTS,
        }
        result = user["content"][0]
        assert (result["type"], result["tool_use_id"], json.loads(result["content"])) == (
            "tool_result",
            call_id,
            TOOL_RESULT,
        )
    else:
        model_turn, user_turn = body["contents"][-2], body["contents"][-1]
        assert model_turn["role"] == "model"
        call = field(model_turn["parts"][-1], "functionCall")
        assert (call["name"], call["args"]) == ("get_weather", TOOL_ARGUMENTS)
        response = field(user_turn["parts"][0], "functionResponse")
        assert (response["name"], response["response"]) == ("get_weather", TOOL_RESULT)
