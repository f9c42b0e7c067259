"""Fine-tuning the embedder (litmine.embed.tune): pairs, provenance, the tuned:<name> embedder, refusals,
and one real fine-tune of all-MiniLM-L6-v2 on a handful of texts (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from litmine.embed import tune as embed_tune
from litmine.cli import main
from litmine.embed import get_embedder
from litmine.embed.tune import KINDS, PROVENANCE, Labelled, TunedEmbedder, TuneSettings, build_pairs, tune, works_digest
from litmine.errors import EmbedError

WORKS = [
    Labelled("Circuits in vision models: curve detectors", True, "circuits"),
    Labelled("Transformer circuits and induction heads", True, "circuits"),
    Labelled("Attention heads compose into circuits", True, "circuits"),
    Labelled("Sparse autoencoders find monosemantic features", True, "features"),
    Labelled("Dictionary learning of superposed features", True, "features"),
    Labelled("A survey of interpretability without a subsection", True, None),
    Labelled("Adversarial training for robust image models", False, None),
    Labelled("Faster matrix multiplication on GPUs", False, None),
]


def test_pairs_take_the_four_kinds_in_turn_with_their_labels():
    pairs = build_pairs(WORKS, 40, seed=1)
    assert len(pairs) == 40
    assert [p.kind for p in pairs[:8]] == list(KINDS) * 2
    by_text = {w.text: w for w in WORKS}
    for p in pairs:
        a, b = by_text[p.first], by_text[p.second]
        assert p.label == (1.0 if p.kind.startswith("same") else 0.0)
        if p.kind == "same-subsection":
            assert a.subsection == b.subsection and a.inside and b.inside and a.text != b.text
        elif p.kind == "other-subsection":
            assert a.subsection != b.subsection and a.subsection and b.subsection
        elif p.kind == "same-scope":
            assert a.inside == b.inside and a.text != b.text
        else:
            assert a.inside != b.inside
    assert build_pairs(WORKS, 40, seed=1) == pairs  # seeded
    assert build_pairs(WORKS, 40, seed=2) != pairs


def test_pairs_skip_a_kind_without_works():
    out_only = [w for w in WORKS if not w.inside] + [WORKS[0]]
    assert {p.kind for p in build_pairs(out_only, 12)} == {"same-scope", "other-scope"}
    assert build_pairs([WORKS[0]], 5) == []


def test_the_works_digest_ignores_order_and_sees_labels():
    assert works_digest(WORKS) == works_digest(list(reversed(WORKS)))
    changed = [Labelled(WORKS[0].text, True, "features"), *WORKS[1:]]
    assert works_digest(changed) != works_digest(WORKS)


class FakeModel:
    def save(self, path: str) -> None:
        (Path(path) / "config.json").write_text("{}")


def test_a_fit_is_saved_with_its_provenance_and_not_repeated(tmp_path, monkeypatch):
    fits = []

    def fake_fit(base_path, pairs, settings):
        fits.append((base_path, len(pairs), settings))
        return FakeModel(), 12.5, 20.0

    monkeypatch.setattr(embed_tune, "_fit", fake_fit)
    settings = TuneSettings(pairs=24, epochs=2, seed=7)
    first = tune(WORKS, tmp_path, settings)
    assert first.model_id == f"tuned:{first.name}" and first.name.startswith("all-minilm-l6-v2-")
    p = json.loads((tmp_path / first.name / PROVENANCE).read_text())
    assert p == first.provenance
    assert (p["base"], p["works"], p["in_scope"], p["placed"], p["pairs"]) == ("all-MiniLM-L6-v2", 8, 6, 5, 24)
    assert p["works_digest"] == works_digest(WORKS) and len(p["base_weights"]) == 64
    assert p["pairs_by_kind"] == {k: 6 for k in KINDS}
    assert (p["settings"]["epochs"], p["settings"]["seed"], p["cpu_seconds"], p["wall_seconds"]) == (2, 7, 12.5, 20.0)
    assert p["versions"]["litmine"] and p["versions"]["torch"] and p["loss"] == "CosineSimilarityLoss"
    assert [f.name for f in tmp_path.iterdir()] == [first.name]  # no temporary folder left

    again = tune(list(reversed(WORKS)), tmp_path, settings)
    assert again.reused and again.name == first.name and len(fits) == 1
    other = tune(WORKS, tmp_path, TuneSettings(pairs=24, epochs=2, seed=8))
    assert other.name != first.name and len(fits) == 2

    embedder = TunedEmbedder(first.name, root=tmp_path)
    assert embedder.model_id == first.model_id and embedder.model_path() == str(tmp_path / first.name)
    assert embedder.provenance == p and embedder._model is None  # loaded on first use


def test_the_tuned_embedder_comes_through_the_plugin_door(settings, monkeypatch):
    monkeypatch.setattr(embed_tune, "_fit", lambda *a: (FakeModel(), 1.0, 1.0))
    tuned = tune(WORKS, settings.embedders_dir, TuneSettings(pairs=8))
    embedder = get_embedder(tuned.model_id)
    assert isinstance(embedder, TunedEmbedder) and embedder.model_id == tuned.model_id
    with pytest.raises(EmbedError) as err:
        get_embedder("tuned:nope")
    assert str(err.value) == (f"no tuned model 'nope' in {settings.embedders_dir}: run `litmine embed-tune` first, "
                              f"or choose from {tuned.name} (model=tuned:nope)")


def test_refusals_say_what_happened_and_the_fix(tmp_path):
    with pytest.raises(EmbedError) as err:
        tune(WORKS, tmp_path, TuneSettings(base="no-such-model"))
    assert str(err.value) == ("unknown base model 'no-such-model': not a local sentence-transformers folder; name "
                              "all-MiniLM-L6-v2 or the path of a saved model (base=no-such-model)")
    with pytest.raises(EmbedError) as err:
        tune(WORKS, tmp_path, TuneSettings(base="all-MiniLM-L6-v2+int8"))
    assert str(err.value) == ("cannot tune a model with options (+int8): name the base model alone, e.g. "
                              "all-MiniLM-L6-v2 (base=all-MiniLM-L6-v2+int8)")
    with pytest.raises(EmbedError) as err:
        tune([], tmp_path)
    assert str(err.value) == ("no labelled works to tune the embedder on: load the survey (`litmine survey load`) "
                              "or judge candidates (`litmine review`) first (base=all-MiniLM-L6-v2)")
    with pytest.raises(EmbedError) as err:
        tune([WORKS[6], WORKS[7]], tmp_path)
    assert str(err.value) == ("the labelled works are all alike (one scope, at most one subsection): nothing to "
                              "contrast; judge candidates of both scopes first (works=2)")
    with pytest.raises(EmbedError) as err:
        TunedEmbedder("nope", root=tmp_path)
    assert str(err.value) == (f"no tuned model 'nope' in {tmp_path}: run `litmine embed-tune` first, or choose "
                              "from none (model=tuned:nope)")
    assert list(tmp_path.iterdir()) == []


def test_the_labelled_works_are_the_survey_and_the_judged_candidates(seeded):
    works = embed_tune.labelled_works(seeded)
    inside = [w for w in works if w.inside]
    assert inside and len(inside) < len(works)
    assert all(w.subsection is None for w in works if not w.inside)
    assert sum(bool(w.subsection) for w in inside) > len(inside) / 2
    assert all(w.text.strip() for w in works)


def test_the_command_refuses_a_database_without_a_survey(store):
    result = CliRunner().invoke(main, ["embed-tune"])
    assert result.exit_code != 0
    assert "`litmine embed-tune` needs the placement set declared by the survey seed" in result.output


@pytest.mark.slow  # a real fine-tune of all-MiniLM-L6-v2 (a few CPU seconds) and its vectors
def test_a_real_fine_tune_moves_the_model_and_embeds(tmp_path):
    import torch

    torch.set_num_threads(1)
    tuned = tune(WORKS, tmp_path, TuneSettings(pairs=16, batch_size=8, max_seq_length=32, learning_rate=1e-4))
    assert tuned.provenance["pairs"] == 16 and tuned.provenance["cpu_seconds"] >= 0
    texts = [w.text for w in WORKS]
    vectors = get_embedder("all-MiniLM-L6-v2").embed_array(texts)
    mine = TunedEmbedder(tuned.name, root=tmp_path).embed_array(texts)
    assert mine.shape == vectors.shape == (len(WORKS), 384)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(mine, vectors, atol=1e-4)  # the weights moved
    assert TunedEmbedder(tuned.name, root=tmp_path).model.max_seq_length == 256  # the base's, not the training's
