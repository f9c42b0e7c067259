"""Ensemble: the mean of its members' scores, label by label (members that do not score a label,
such as an untrained supervised label, are left out of its mean). Members are registered
classifiers, fitted on the same data; the assignment rule is the base class's."""

from __future__ import annotations

from litmine.classify.base import Classifier, Example, Prediction, Taxonomy, WorkItem


class EnsembleClassifier(Classifier):
    name = "ensemble"
    version = "1"
    trainable = True

    def __init__(self, env=None, members: str | list[str] | None = None, **params: object) -> None:
        from litmine.classify import get_classifier

        if members is None:
            members = ["zeroshot", "supervised"] + (["llm"] if env is not None and env.has_llm else [])
        elif isinstance(members, str):
            members = [m.strip() for m in members.split(",") if m.strip()]
        super().__init__(env, **params)
        self.members = [get_classifier(name, env) for name in members]

    def params(self) -> dict:
        return {**super().params(), "members": {m.name: m.source_version for m in self.members}}

    @property
    def model(self) -> str | None:
        models = sorted({m.model for m in self.members if m.model})
        return ",".join(models) or None

    @property
    def needs_vectors(self) -> bool:  # type: ignore[override]
        return any(m.needs_vectors for m in self.members)

    def fit(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        super().fit(taxonomy, examples)
        for m in self.members:
            m.fit(taxonomy, examples)

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        per_member = [m.predict(items) for m in self.members]
        out = []
        for i, item in enumerate(items):
            preds = [p[i] for p in per_member]
            failed = [p for p in preds if p.error is not None]
            if failed:
                out.append(Prediction(item.work_id, error=failed[0].error))
                continue
            sums: dict[str, dict[str, list[float]]] = {}
            for p in preds:
                for label_set, scores in p.scores.items():
                    if label_set == "part":
                        continue
                    for label, s in scores.items():
                        sums.setdefault(label_set, {}).setdefault(label, []).append(s)
            scores = {ls: {label: sum(v) / len(v) for label, v in d.items()} for ls, d in sums.items()}
            rationale = " | ".join(f"{m.name}: {p.rationale}" for m, p in zip(self.members, preds) if p.rationale)
            out.append(Prediction(item.work_id, scores, rationale=rationale or None))
        return out
