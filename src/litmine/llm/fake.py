"""A fake LLM backend for tests: answers from a queue, and records every request it was sent.

It registers through the same entry point as the real backends (``fake``). With an empty queue
it answers the first label of each enum, so a run without scripted answers still completes.
"""

from __future__ import annotations

import json

from litmine.llm import Completion, LLMBackend


class FakeBackend(LLMBackend):
    name = "fake"
    answers: list[str] = []  # shared queue: tests append answers before a run
    requests: list[dict] = []  # every (messages, schema) sent, newest last

    def complete(self, messages: list[dict], schema: dict, max_tokens: int = 400) -> Completion:
        FakeBackend.requests.append({"messages": messages, "schema": schema})
        if FakeBackend.answers:
            text = FakeBackend.answers.pop(0)
        else:
            props = schema.get("properties", {})
            answer = {}
            for key, spec in props.items():
                if spec.get("type") == "array":
                    answer[key] = spec["items"]["enum"][:1]
                else:
                    answer[key] = "default answer"
            text = json.dumps(answer)
        words = sum(len(m["content"].split()) for m in messages)
        return Completion(text, prompt_tokens=words, completion_tokens=len(text.split()))

    @classmethod
    def reset(cls) -> None:
        cls.answers.clear()
        cls.requests.clear()
