"""LangChain's standard test suites, run against ChatNVIDIA.

The unit suite needs no server. The integration suite talks to nvnb's local server (the
``nvnb_server`` fixture). Capabilities are declared as they are: tool calling, tool choice,
structured output and usage metadata are supported; image inputs are supported too, but the
suite fetches its images from the internet, which these tests do not do.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from nvnb import ChatNVIDIA

MODEL = "meta/llama-3.3-70b-instruct"  # catalog: tools and structured output


class TestChatNVIDIAUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatNVIDIA

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": MODEL, "base_url": "http://127.0.0.1:9/v1"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"NVIDIA_API_KEY": "nvapi-from-env", "NVIDIA_BASE_URL": "http://nim.test:8000"},
            {"model": MODEL},
            {"base_url": "http://nim.test:8000/v1", "model": MODEL},
        )

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "meta/llama-3.1-8b-instruct"


_SERVER: dict[str, Any] = {}


class TestChatNVIDIAIntegration(ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _server(self, nvnb_server: Any) -> None:
        _SERVER["base_url"] = nvnb_server.base_url

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatNVIDIA

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": MODEL, "base_url": _SERVER["base_url"]}

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False  # supported, but the suite downloads its images from the internet

    @property
    def supports_image_urls(self) -> bool:
        return False  # same: the suite's URLs point at the internet

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "meta/llama-3.1-8b-instruct"
