"""One door for every plugin: classifiers, scope methods, embedders and LLM backends are entry points
of their group, the built-in ones exactly as a third-party one, and an unknown name is refused in the
same words for every group: "unknown <what> '<name>': choose from <the names there are>"."""

from __future__ import annotations

from importlib.metadata import entry_points

from litmine.errors import ClassifierError, LitmineError


def plugins(group: str) -> dict[str, object]:
    """The entry points of ``group`` by name."""
    return {ep.name: ep for ep in entry_points(group=group)}


def lookup(group: str, name: str, what: str, error: type[LitmineError] = ClassifierError, **context: object):
    """The object the entry point ``name`` of ``group`` names, loaded; else ``error`` (its group's
    error class: ``ClassifierError`` for methods, ``EmbedError``, ``ConfigError``) saying "unknown
    <what> '<name>': choose from <the names there are>", with ``context`` (where the name came from:
    the setting that gave it) as its "(where)"."""
    found = plugins(group)
    if name not in found:
        raise unknown(what, name, found, error, **context)
    return found[name].load()


def unknown(what: str, name: str, names, error: type[LitmineError] = ClassifierError, **context: object):
    """The one refusal of a name that is not registered: ``error`` reading "unknown <what> '<name>':
    choose from <names>" (raise it)."""
    return error(f"unknown {what} {name!r}: choose from {', '.join(sorted(names)) or 'none (reinstall litmine)'}",
                 **context)
