"""A local GGUF model run in process by llama.cpp (``llama-cpp-python``), with the answer
constrained to the JSON schema by a grammar. ``LITMINE_LLM_MODEL`` is the GGUF file's path;
``LITMINE_LLM_THREADS`` its CPU threads (0: the machine's cores)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from litmine.errors import ConfigError, LLMError
from litmine.llm import Completion, LLMBackend

log = logging.getLogger(__name__)


class LlamaCppBackend(LLMBackend):
    name = "llama-cpp"

    def __init__(self, model: str, base_url: str = "", api_key: str = "", n_ctx: int = 4096,
                 n_threads: int | None = None, **options: object) -> None:
        super().__init__(model, base_url, api_key, **options)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1  # None or 0: every core (LITMINE_LLM_THREADS)
        self._llm = None

    @property
    def model_id(self) -> str:
        return f"{self.name}:{Path(self.model).name}"

    @property
    def llm(self):
        if self._llm is None:
            path = Path(self.model).expanduser()
            if not path.is_file():
                raise ConfigError(f"no GGUF file at {path}: set LITMINE_LLM_MODEL to the model file's path")
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ConfigError("llama-cpp-python is not installed: pip install 'litmine[llm]'") from None
            log.info("loading %s", path)
            self._llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)
        return self._llm

    def complete(self, messages: list[dict], schema: dict, max_tokens: int = 400) -> Completion:
        try:
            out = self.llm.create_chat_completion(
                messages=messages, temperature=0, max_tokens=max_tokens,
                response_format={"type": "json_object", "schema": schema},
            )
        except ValueError as exc:  # llama.cpp raises ValueError when the prompt exceeds the context
            raise LLMError(f"llama.cpp refused the prompt: {exc}", model=self.model_id) from None
        usage = out.get("usage") or {}
        choice = out["choices"][0]
        return Completion(choice["message"]["content"] or "", usage.get("prompt_tokens"),
                          usage.get("completion_tokens"), choice.get("finish_reason"))
