"""Builds the providers the settings describe: one per key that is set, plus the built-in `local`."""

from __future__ import annotations

from ai_gateway.providers.base import Provider
from ai_gateway.providers.local_provider import LocalProvider
from ai_gateway.settings import AiSettings

# Each SDK is imported only when its provider has a key: together they take seconds to import.


def build_providers(settings: AiSettings) -> dict[str, Provider]:
    timeout, connect = settings.provider_timeout_seconds, settings.provider_connect_timeout_seconds
    providers: dict[str, Provider] = {"local": LocalProvider(settings.local_stream_delay_seconds)}
    if settings.openai_api_key is not None:
        from ai_gateway.providers.openai_provider import OpenAIProvider

        providers["openai"] = OpenAIProvider(
            settings.openai_api_key.reveal(), settings.openai_base_url, timeout, connect
        )
    if settings.anthropic_api_key is not None:
        from ai_gateway.providers.anthropic_provider import AnthropicProvider

        providers["anthropic"] = AnthropicProvider(
            settings.anthropic_api_key.reveal(),
            settings.anthropic_base_url,
            timeout,
            connect,
            settings.default_max_tokens,
        )
    if settings.gemini_api_key is not None:
        from ai_gateway.providers.gemini_provider import GeminiProvider

        providers["gemini"] = GeminiProvider(
            settings.gemini_api_key.reveal(), settings.gemini_base_url, timeout, connect
        )
    return providers
