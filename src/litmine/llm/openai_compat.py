"""Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, llama.cpp's server.

The answer is constrained to a JSON schema. OpenAI, vLLM and Ollama take it as
``response_format: {"type": "json_schema", ...}`` (backend ``openai``); llama-cpp-python's server
takes it as ``{"type": "json_object", "schema": ...}`` (backend ``llama-cpp-server``). The API key
goes in the Authorization header only: it is never logged, stored, or shown in an error.
"""

from __future__ import annotations

import logging
import time

import requests

from litmine import __version__
from litmine.errors import LLMError
from litmine.llm import Completion, LLMBackend

log = logging.getLogger(__name__)

_RETRY_STATUS = {429, 500, 502, 503, 504}


class OpenAICompatBackend(LLMBackend):
    name = "openai"
    schema_style = "json_schema"

    def __init__(self, model: str, base_url: str = "", api_key: str = "", timeout: float = 120.0,
                 retries: int = 2, **options: object) -> None:
        super().__init__(model, base_url or "https://api.openai.com/v1", api_key, **options)
        self.timeout = timeout
        self.retries = retries
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"litmine/{__version__}"

    def _response_format(self, schema: dict) -> dict:
        if self.schema_style == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "labels", "schema": schema, "strict": True}}

    def complete(self, messages: list[dict], schema: dict, max_tokens: int = 400) -> Completion:
        url = self.base_url.rstrip("/") + "/chat/completions"
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens,
                "response_format": self._response_format(schema)}
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        delay = 1.0
        for attempt in range(1, self.retries + 2):
            try:
                resp = self._session.post(url, json=body, headers=headers, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                if attempt > self.retries:
                    raise LLMError(f"LLM endpoint unreachable: {type(exc).__name__}", url=url, attempt=attempt) from None
                log.info("LLM request failed (%s), retrying in %.0f s", type(exc).__name__, delay)
            else:
                if resp.status_code == 200:
                    return _parse(resp, url, self._api_key)
                if resp.status_code not in _RETRY_STATUS or attempt > self.retries:
                    raise LLMError(
                        f"LLM endpoint answered HTTP {resp.status_code}: {_redact(resp.text, self._api_key)[:200]}",
                        url=url, status=resp.status_code,
                    )
                log.info("LLM endpoint answered %s, retrying in %.0f s", resp.status_code, delay)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")


class LlamaCppServerBackend(OpenAICompatBackend):
    """llama-cpp-python's server (``python -m llama_cpp.server``)."""

    name = "llama-cpp-server"
    schema_style = "json_object"

    def __init__(self, model: str, base_url: str = "", api_key: str = "", **options: object) -> None:
        super().__init__(model, base_url or "http://127.0.0.1:8000/v1", api_key, **options)


def _redact(text: str, secret: str) -> str:
    """``text`` with the API key (which some endpoints echo in their errors) blanked out."""
    return text.replace(secret, "[API key]") if secret else text


def _parse(resp: requests.Response, url: str, secret: str) -> Completion:
    try:
        data = resp.json()
        choice = data["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError(f"LLM endpoint answered without a chat completion: {_redact(resp.text, secret)[:200]}",
                       url=url) from None
    usage = data.get("usage") or {}
    return Completion(text or "", usage.get("prompt_tokens"), usage.get("completion_tokens"), choice.get("finish_reason"))
