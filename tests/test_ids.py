"""arXiv identifiers: both schemes, versions kept, never an unsafe path."""

from __future__ import annotations

import pytest

from litmine.errors import InvalidArxivId
from litmine.ids import ArxivId, normalise_doi, parse_arxiv_id, safe_child


@pytest.mark.parametrize(
    "text, base, version",
    [
        ("2207.13243v6", "2207.13243", 6),
        ("2207.13243", "2207.13243", None),
        ("arXiv:2207.13243v2", "2207.13243", 2),
        ("https://arxiv.org/abs/2207.13243v6", "2207.13243", 6),
        ("http://arxiv.org/pdf/1606.03490v3.pdf", "1606.03490", 3),
        ("0704.0001", "0704.0001", None),
        ("hep-th/9901001", "hep-th/9901001", None),
        ("quant-ph/0201082v1", "quant-ph/0201082", 1),
        ("http://arxiv.org/abs/astro-ph/0601001v1", "astro-ph/0601001", 1),
        ("math.GT/0309136", "math.GT/0309136", None),
        ("MATH.gt/0309136v2", "math.GT/0309136", 2),
    ],
)
def test_parse_both_schemes_keeping_the_version(text, base, version):
    aid = parse_arxiv_id(text)
    assert (aid.base, aid.version) == (base, version)


@pytest.mark.parametrize("text", ["abc", "1234.1234567", "2213.00001", "hep-th/99010", "../../etc/passwd",
                                  "hep-th/../9901001", "2207.13243v", ""])
def test_invalid_ids_are_refused_with_a_named_error(text):
    with pytest.raises(InvalidArxivId, match="not an arXiv id"):
        parse_arxiv_id(text)


def test_file_names_stay_one_safe_component(tmp_path):
    assert ArxivId("hep-th/9901001", 2).filename() == "hep-th_9901001v2.pdf"
    assert ArxivId("2207.13243", 6).filename() == "2207.13243v6.pdf"
    assert ArxivId("math.GT/0309136").filename() == "math.GT_0309136.pdf"
    path = safe_child(tmp_path, ArxivId("hep-th/9901001", 1).filename())
    assert path.parent == tmp_path
    with pytest.raises(InvalidArxivId):
        ArxivId("../../x", 1).filename()
    for bad in ("..", ".hidden", "a/b.pdf", ""):
        with pytest.raises(InvalidArxivId):
            safe_child(tmp_path, bad)


def test_str_and_doi():
    assert str(parse_arxiv_id("2207.13243v6")) == "2207.13243v6"
    assert normalise_doi("https://doi.org/10.1109/ACCESS.2018.2870052") == "10.1109/access.2018.2870052"
    assert normalise_doi("not a doi") is None
