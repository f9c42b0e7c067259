"""A fake LLM backend for tests: answers from a queue, and records every request it was sent.

It registers through the same entry point as the real backends (``fake``). An answer is a string,
or a ``Completion`` (to script a cut-off answer). With an empty queue it answers the first value of
each enum, so a run without scripted answers still completes.
"""

from __future__ import annotations

import json

from litmine.llm import Completion, LLMBackend


class FakeBackend(LLMBackend):
    name = "fake"
    answers: list[str | Completion] = []  # shared queue: tests append answers before a run
    requests: list[dict] = []  # every (messages, schema, max_tokens) sent, newest last

    def complete(self, messages: list[dict], schema: dict, max_tokens: int = 400) -> Completion:
        FakeBackend.requests.append({"messages": messages, "schema": schema, "max_tokens": max_tokens})
        if FakeBackend.answers:
            text = FakeBackend.answers.pop(0)
            if isinstance(text, Completion):
                return text
        else:
            props = schema.get("properties", {})
            answer = {}
            for key, spec in props.items():
                if spec.get("type") == "array":
                    answer[key] = spec["items"]["enum"][: max(1, spec.get("minItems", 0))]
                elif spec.get("type") == "boolean":
                    answer[key] = True
                elif "enum" in spec:
                    answer[key] = spec["enum"][0]
                else:
                    answer[key] = "default answer"
            text = json.dumps(answer)
        words = sum(len(m["content"].split()) for m in messages)
        return Completion(text, prompt_tokens=words, completion_tokens=len(text.split()))

    @classmethod
    def reset(cls) -> None:
        cls.answers.clear()
        cls.requests.clear()
