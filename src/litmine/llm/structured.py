"""One schema-constrained question to an LLM, and what to do with what comes back.

The backends ask for the schema (a grammar in llama.cpp, structured output elsewhere), but an answer
is still checked here, because not every endpoint enforces every keyword and because a grammar does
not stop ``max_tokens`` from cutting an answer off. The answer is parsed as leniently as JSON allows
(raw control characters, such as a newline, inside a string are accepted: llama.cpp's grammar lets
them through), then checked against the subset of JSON Schema that litmine writes: an object with
``properties``, ``required`` and no other fields; arrays of ``enum`` values within ``minItems`` and
``maxItems`` (repeated values count once); strings, with ``enum`` and ``maxLength`` (a longer string is
cut, not refused); booleans, integers and numbers.

An answer that is cut off or invalid is asked once more, with a note saying what was wrong (and
twice the tokens when it was cut off); if that fails too, ``LLMError`` carries the raw answer.

Text written by third parties (a paper's abstract) goes into a prompt only through ``quote``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from litmine.errors import LLMError

log = logging.getLogger(__name__)

RAW_CHARS = 600  # how much of a refused answer a failure records


@dataclass(frozen=True)
class JSONAnswer:
    """A valid answer, the raw text it came from, and what it cost (over every attempt)."""

    value: dict
    text: str
    attempts: int
    prompt_tokens: int
    completion_tokens: int


def quote(data: object) -> str:
    """``data`` as JSON, with angle brackets escaped so that no text in it can close the block
    (``<paper>`` ... ``</paper>``) it is placed in."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def parse_json(text: str) -> object:
    """The JSON value in ``text``, allowing raw control characters inside strings and a Markdown code
    fence around it; ``ValueError`` otherwise."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0] if body.rstrip().endswith("```") else body
    return json.loads(body, strict=False)


def check(value: object, schema: dict) -> dict:
    """``value`` made to fit ``schema`` where that loses nothing (repeated array values dropped, a long
    string cut to ``maxLength``); ``ValueError`` saying why when it does not fit."""
    if not isinstance(value, dict):
        raise ValueError(f"is a {type(value).__name__}, not an object")
    props = schema.get("properties", {})
    extra = sorted(set(value) - set(props))
    if extra and schema.get("additionalProperties", True) is False:
        raise ValueError(f"has fields {sorted(value)}, expected {sorted(props)}")
    missing = [key for key in schema.get("required", ()) if key not in value]
    if missing:
        raise ValueError(f"lacks the field(s) {', '.join(missing)}")
    return {key: _check_value(key, value[key], props.get(key, {})) for key in value}


def _check_value(key: str, value: object, spec: dict) -> object:
    kind = spec.get("type")
    if kind == "array":
        if not isinstance(value, list):
            raise ValueError(f"field {key} is not a list")
        items = spec.get("items", {})
        allowed = items.get("enum")
        value = list(dict.fromkeys(json.dumps(v, sort_keys=True) for v in value))
        value = [json.loads(v) for v in value]
        if allowed is not None and any(v not in allowed for v in value):
            raise ValueError(f"field {key} holds values outside its set: {value!r}"[:300])
        if not spec.get("minItems", 0) <= len(value) <= spec.get("maxItems", len(value)):
            raise ValueError(f"field {key} has {len(value)} values, outside the schema's bounds "
                             f"{spec.get('minItems', 0)} to {spec.get('maxItems', 'any')}")
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"field {key} is not text")
        if "enum" in spec and value not in spec["enum"]:
            raise ValueError(f"field {key} is {value!r}, not one of {spec['enum']}"[:300])
        return value[: spec["maxLength"]] if "maxLength" in spec else value
    if kind == "boolean" and not isinstance(value, bool):
        raise ValueError(f"field {key} is not true or false")
    if kind in ("integer", "number") and (isinstance(value, bool) or not isinstance(value, (int, float))
                                          or (kind == "integer" and not float(value).is_integer())):
        raise ValueError(f"field {key} is not a{'n integer' if kind == 'integer' else ' number'}")
    return value


def read_answer(text: str, schema: dict) -> dict:
    """The answer in ``text`` checked against ``schema``; ``ValueError`` saying what is wrong."""
    try:
        value = parse_json(text)
    except ValueError:
        raise ValueError("is not JSON") from None
    return check(value, schema)


def complete_json(client, messages: list[dict], schema: dict, max_tokens: int = 400, retries: int = 1) -> JSONAnswer:
    """Ask ``client`` (an ``LLMClient`` or a backend) for an answer valid under ``schema``; see the module."""
    prompt_tokens = completion_tokens = 0
    asked, tokens = messages, max_tokens
    for attempt in range(1, retries + 2):
        completion = client.complete(asked, schema, max_tokens=tokens)
        prompt_tokens += completion.prompt_tokens or 0
        completion_tokens += completion.completion_tokens or 0
        try:
            value = read_answer(completion.text, schema)
        except ValueError as exc:
            cut = completion.cut_off(tokens)
            problem = f"was cut off after {tokens} tokens" if cut else str(exc)
        else:
            return JSONAnswer(value, completion.text, attempt, prompt_tokens, completion_tokens)
        if attempt > retries:
            raw = completion.text if len(completion.text) <= RAW_CHARS else completion.text[:RAW_CHARS] + "…"
            raise LLMError(f"the LLM answer {problem}, also when asked again; raw answer: {raw!r}",
                           attempts=attempt)
        log.info("LLM answer %s; asking again", problem)
        note = (f"\n\n(Your previous answer {problem}. Answer with one complete JSON object in the required "
                "form, keeping any text field short.)")
        asked = [*messages[:-1], {**messages[-1], "content": messages[-1]["content"] + note}]
        tokens = max_tokens * 2 if cut else max_tokens
    raise AssertionError("unreachable")
