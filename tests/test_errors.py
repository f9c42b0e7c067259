"""Errors read "what happened (where)" and survive pickling (Prefect carries them between processes)."""

from __future__ import annotations

import pickle

import pytest

from litmine import errors


@pytest.mark.parametrize("cls", [c for c in vars(errors).values()
                                 if isinstance(c, type) and issubclass(c, errors.LitmineError)])
def test_every_error_pickles_with_its_context(cls):
    err = cls("arXiv did not answer", url="http://127.0.0.1/api", attempt=3, status=None)
    assert str(err) == "arXiv did not answer (url=http://127.0.0.1/api, attempt=3)"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and str(back) == str(err) and back.context == err.context


def test_a_long_context_value_is_cut_in_the_middle():
    url = "https://export.arxiv.org/api/query?search_query=" + "x" * 900 + "&start=10&max_results=10"
    text = str(errors.FetchError("arXiv did not answer", url=url))
    assert len(text) < 200
    assert text.startswith("arXiv did not answer (url=https://export.arxiv.org/api/query?search_query=xxx")
    assert text.endswith("&start=10&max_results=10)") and "…" in text


def test_an_unknown_plugin_of_any_group_is_refused_in_the_same_words():
    """Classifiers, scope methods, embedders and LLM backends go through one lookup (``litmine.plugins``):
    each refuses an unknown name as "unknown <what> '<name>': choose from <its group's names>", in its
    own error class, naming the setting it came from where one did."""
    from litmine.classify.method import PLACEMENT, SCOPE, available_methods, get_method
    from litmine.embed import get_embedder
    from litmine.llm import get_backend
    from litmine.plugins import plugins

    def names(group):
        return ", ".join(sorted(plugins(group)))

    cases = [
        (lambda: get_method(PLACEMENT, "nope"), errors.ClassifierError,
         f"unknown classifier 'nope': choose from {', '.join(sorted(available_methods(PLACEMENT)))}"),
        (lambda: get_method(SCOPE, "nope"), errors.ClassifierError,
         f"unknown scope method 'nope': choose from {', '.join(sorted(available_methods(SCOPE)))}"),
        (lambda: get_embedder("nope:64"), errors.EmbedError,
         "unknown embedder 'nope': choose from hashing, sentence-transformers, tuned (LITMINE_EMBED_MODEL=nope:64)"),
        (lambda: get_backend("nope", "m"), errors.ConfigError,
         "unknown LLM backend 'nope': choose from fake, llama-cpp, llama-cpp-server, openai (LITMINE_LLM_BACKEND=nope)"),
    ]
    for call, cls, message in cases:
        with pytest.raises(cls) as info:
            call()
        assert str(info.value) == message
    assert available_methods(PLACEMENT) and available_methods(SCOPE)
