"""One method concept (issue 23): one entry-point group, one class per method deciding the roles it
says, one failure format for both roles, cleared by a later good run."""

from __future__ import annotations

import warnings

import pytest

from litmine.classify import PLACEMENT, SCOPE, ClassifierEnv, classify_works, get_method
from litmine import plugins as plugins_module
from litmine.classify.base import Classifier, Prediction
from litmine.classify.scope import PlacementAndScope, ScopeMethod, screen_works
from litmine.embed import HashingEmbedder
from litmine.errors import ClassifierError


class PlacementOnly(Classifier):
    needs_vectors = False

    def predict(self, items):
        return [Prediction(i.work_id, {}) for i in items]


class ScopeOnly(ScopeMethod):
    pass


class EntryPoint:
    def __init__(self, name, obj):
        self.name, self.obj = name, obj

    def load(self):
        return self.obj


def test_every_built_in_method_is_one_class_and_one_entry_point_deciding_both_roles():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.load() for ep in entry_points(group="litmine.methods")}
    assert sorted(eps) == ["ensemble", "llm", "supervised", "tuned", "zeroshot"]
    assert not list(entry_points(group="litmine.classifiers")) and not list(entry_points(group="litmine.scope_methods"))
    env = ClassifierEnv(make_embedder=lambda: HashingEmbedder(256))
    for name, cls in eps.items():
        assert cls.roles == (PLACEMENT, SCOPE)
        if name == "llm":
            continue
        placement, scope = get_method(PLACEMENT, name, env), get_method(SCOPE, name, env)
        assert type(placement) is type(scope) is cls
        assert (placement.stage, placement.source, scope.stage, scope.source) == (
            f"classify-{name}", name, "screen", f"scope-{name}")
        assert placement.failure_key(7) == (f"classify-{name}", f"{name} 7")  # one format for both roles
        assert scope.failure_key(7) == ("screen", f"{name} 7")


def test_a_method_that_does_not_decide_a_role_is_refused_for_it_and_an_old_group_is_read_with_a_warning(monkeypatch):
    groups = {"litmine.methods": [EntryPoint("keywords", PlacementOnly)],
              "litmine.classifiers": [], "litmine.scope_methods": [EntryPoint("old", ScopeOnly)]}
    monkeypatch.setattr(plugins_module, "entry_points", lambda group: groups[group])
    assert type(get_method(PLACEMENT, "keywords")) is PlacementOnly
    with pytest.raises(ClassifierError) as info:
        get_method(SCOPE, "keywords")
    assert str(info.value) == "unknown scope method 'keywords': choose from old"
    with pytest.raises(ClassifierError) as info:
        get_method(PLACEMENT, "old")
    assert str(info.value) == "unknown classifier 'old': choose from keywords"
    moved = "'litmine.scope_methods', which is deprecated: register it in 'litmine.methods'"
    with pytest.warns(DeprecationWarning, match=moved):
        old = get_method(SCOPE, "old")
    assert type(old) is ScopeOnly and old.role == SCOPE
    with pytest.raises(ClassifierError, match="unknown role 'nope': choose from placement, scope"):
        get_method("nope", "keywords")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refused = r"method 'base' does not decide role 'scope' \(PlacementOnly decides placement\)"
        with pytest.raises(ClassifierError, match=refused):
            PlacementOnly(role=SCOPE)


class Flaky(PlacementAndScope):
    """Fails on the works in ``failing``, scores every other one: placement or scope by its role."""

    name = "flaky"
    needs_vectors = False
    failing: set[int] = set()

    def predict(self, items):
        return [Prediction(i.work_id, error=ClassifierError("flaky")) if i.work_id in self.failing else
                Prediction(i.work_id, {s: dict.fromkeys(self.taxonomy.ids(s), 1.0) for s in self.taxonomy.target_sets})
                for i in items]

    def score(self, items):
        from litmine.classify.scope import ScopeScore

        return [ScopeScore(None, error=ClassifierError("flaky")) if i.work_id in self.failing else ScopeScore(0.9)
                for i in items]


def test_a_failed_work_is_recorded_in_one_format_and_cleared_by_a_later_good_run_in_both_roles(seeded):
    def open_failures():
        with seeded.connect(read_only=True) as con:
            return con.execute("SELECT stage, item FROM failures WHERE resolved_at IS NULL ORDER BY 1, 2").fetchall()

    Flaky.failing = {1}
    assert classify_works(seeded, Flaky(role=PLACEMENT), limit=3).failed == 1
    assert screen_works(seeded, Flaky(role=SCOPE)).failed == 1
    assert open_failures() == [("classify-flaky", "flaky 1"), ("screen", "flaky 1")]
    Flaky.failing = set()
    again = classify_works(seeded, Flaky(role=PLACEMENT), limit=3)
    assert (again.new, again.unchanged, again.failed) == (1, 2, 0)
    assert screen_works(seeded, Flaky(role=SCOPE)).failed == 0
    assert open_failures() == []


def test_migration_120_gives_stored_placement_failures_the_one_format(tmp_path):
    from litmine.store import Store
    from litmine.store.migrations import MIGRATIONS

    store = Store(tmp_path / "old.duckdb")
    store.migrate()
    with store.transaction() as con:
        con.execute("INSERT INTO failures (run_id, stage, item, error_type, reason) VALUES "
                    "('r', 'classify-llm', '12', 'LLMError', 'x'), ('r', 'classify-llm', '*', 'ItemsFailed', 'y'), "
                    "('r', 'screen', 'llm 12', 'LLMError', 'z')")
        (sql,) = [m for m in MIGRATIONS if m.version == 120]
        con.execute(sql.sql)
        rows = con.execute("SELECT stage, item FROM failures ORDER BY 1, 2").fetchall()
    assert rows == [("classify-llm", "*"), ("classify-llm", "llm 12"), ("screen", "llm 12")]
