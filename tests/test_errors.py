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
