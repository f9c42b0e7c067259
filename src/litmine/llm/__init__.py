"""LLM backends: one method, ``complete(messages, schema)``, and a registry of entry points.

Built-in backends register under the entry-point group ``litmine.llm_backends`` exactly as a
third-party one would: ``openai`` (any OpenAI-compatible endpoint: OpenAI, vLLM, Ollama),
``llama-cpp-server`` (llama.cpp's OpenAI-compatible server, whose JSON mode takes the schema as
``json_object``), ``llama-cpp`` (a GGUF file in process) and ``fake`` (a queue of answers, for tests).

``LLMClient`` adds what every backend shares: a cache of responses by prompt hash and model in
the database, token counts per run, and ``complete_json``: one schema-constrained question whose
answer is parsed leniently, checked against the schema, asked once more when it came back cut off or
invalid, and refused with the raw answer after that (``litmine.llm.structured``). Any stage that asks
an LLM a question (classification, screening) goes through it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from litmine.errors import ConfigError
from litmine.hashing import sha256_hex
from litmine.plugins import lookup, plugins

log = logging.getLogger(__name__)

GROUP = "litmine.llm_backends"


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None  # "stop", or "length" when max_tokens cut the answer off; None if unknown

    def cut_off(self, max_tokens: int) -> bool:
        """Whether the answer stopped at ``max_tokens`` (a cached answer knows only its token count)."""
        if self.finish_reason is not None:
            return self.finish_reason == "length"
        return self.completion_tokens is not None and self.completion_tokens >= max_tokens


class LLMBackend:
    """A chat model that answers in JSON matching a schema. Subclasses implement ``complete``."""

    name = "base"

    def __init__(self, model: str, base_url: str = "", api_key: str = "", **options: object) -> None:
        self.model = model
        self.base_url = base_url
        self._api_key = api_key  # never logged, never stored, never part of the model id
        self.options = options

    @property
    def model_id(self) -> str:
        return f"{self.name}:{self.model}"

    def complete(self, messages: list[dict], schema: dict, max_tokens: int = 400) -> Completion:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"


def available_backends() -> dict[str, object]:
    return plugins(GROUP)


def get_backend(name: str, model: str, base_url: str = "", api_key: str = "", **options: object) -> LLMBackend:
    """The backend ``name`` (``LITMINE_LLM_BACKEND``) for ``model``. An unknown name is a ``ConfigError``
    (a setting to fix), not an ``LLMError``: the LLM methods take those for one work's failure."""
    cls = lookup(GROUP, name, "LLM backend", ConfigError, LITMINE_LLM_BACKEND=name)
    if not model:
        raise ConfigError("No LLM model configured: set LITMINE_LLM_MODEL (a model name, or a GGUF path for llama-cpp)")
    return cls(model, base_url=base_url, api_key=api_key, **options)


def prompt_hash(messages: list[dict], schema: dict, max_tokens: int) -> str:
    payload = json.dumps({"messages": messages, "schema": schema, "max_tokens": max_tokens}, sort_keys=True)
    return sha256_hex(payload)


class LLMClient:
    """A backend with a response cache (``cache``: an object with ``get(hash, model)`` and
    ``put(hash, model, completion)``) and token counts."""

    def __init__(self, backend: LLMBackend, cache=None) -> None:
        self.backend = backend
        self.cache = cache
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.calls = 0
        self.cached = 0

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    def complete(self, messages: list[dict], schema: dict, max_tokens: int = 400) -> Completion:
        key = prompt_hash(messages, schema, max_tokens)
        if self.cache is not None:
            hit = self.cache.get(key, self.model_id)
            if hit is not None:
                self.cached += 1
                return hit
        result = self.backend.complete(messages, schema, max_tokens=max_tokens)
        self.calls += 1
        self.prompt_tokens += result.prompt_tokens or 0
        self.completion_tokens += result.completion_tokens or 0
        if self.cache is not None:
            self.cache.put(key, self.model_id, result)
        return result

    def complete_json(self, messages: list[dict], schema: dict, max_tokens: int = 400, retries: int = 1):
        """The answer to ``messages`` as a dict valid under ``schema`` (a ``JSONAnswer``), asked again
        up to ``retries`` times when it is cut off or invalid; ``LLMError`` with the raw answer after that."""
        from litmine.llm.structured import complete_json

        return complete_json(self, messages, schema, max_tokens=max_tokens, retries=retries)

    def usage(self) -> str:
        per_call = f", {self.prompt_tokens // self.calls} prompt tokens per call" if self.calls else ""
        return (f"LLM {self.model_id}: {self.calls} calls, {self.cached} cached, "
                f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens{per_call}")


class StoreCache:
    """The ``llm_cache`` table as an ``LLMClient`` cache."""

    def __init__(self, store) -> None:
        self.store = store

    def get(self, key: str, model: str) -> Completion | None:
        from litmine.store import ml as ml_store

        with self.store.connect(read_only=False) as con:
            row = ml_store.cached_response(con, key, model)
        return Completion(*row) if row else None

    def put(self, key: str, model: str, completion: Completion) -> None:
        from litmine.store import ml as ml_store

        with self.store.transaction() as con:
            ml_store.cache_response(con, key, model, completion.text, completion.prompt_tokens,
                                    completion.completion_tokens)
