"""One concept: a method scores works for a label set.

``Method`` is the base of every one of them, whatever label set it decides: the survey's placement
(with the sets derived from it and its themes; ``litmine.classify.base.Classifier``) or its scope
(label set ``scope``, label ``in``; ``litmine.classify.scope.ScopeMethod``). Which it decides is the
role it declares (``role``: ``placement`` or ``scope``); scope is a label set like the placement,
trained on its own known decisions as the placement is on its gold labels.

The base holds what every method has: its name (set from its entry point), code version, parameters
(``defaults`` updated by the caller's), the model it reads (the embedder's, when it needs vectors),
the prompt version, a digest of its training data, and the version its rows carry:
``<version>+<digest of everything else that shapes its output>`` (``source_version``). A subclass
says what else shapes it in ``version_payload``.

Every method registers through one door (``lookup``): an entry point in the group of its role
(``GROUPS``); an unknown name lists the names there are, in the same words for every group.
"""

from __future__ import annotations

import hashlib
import itertools
import json

from litmine.errors import ClassifierError
from litmine.plugins import lookup, plugins

PLACEMENT, SCOPE = "placement", "scope"
TITLE_ONLY = "title-only"  # the status of a row scored on a work's title alone (no abstract)
GROUPS = {PLACEMENT: "litmine.classifiers", SCOPE: "litmine.scope_methods"}  # role -> entry-point group
WHAT = {PLACEMENT: "classifier", SCOPE: "scope method"}  # role -> its name in messages


def digest(payload: object) -> str:
    """A short hash of ``payload`` as sorted JSON (what a row's version carries)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


class Method:
    """Base of every method that scores works for a label set (see the module)."""

    name = "base"
    version = "1"
    role = PLACEMENT  # which label set it decides: placement (with derived sets and themes) or scope
    needs_vectors = False
    prompt_version: str | None = None
    defaults: dict = {}

    def __init__(self, env=None, **params: object) -> None:
        self.env = env
        self.param_values: dict = {**self.defaults, **params}
        self.training = ""  # a digest of the examples it was fitted on (a method that learns)

    @property
    def source(self) -> str:
        """The ``source`` of the rows it writes."""
        return self.name

    @property
    def model(self) -> str | None:
        return self.env.embedder.model_id if self.needs_vectors and self.env is not None else None

    def params(self) -> dict:
        return dict(self.param_values)

    def version_payload(self) -> dict:
        """Everything that shapes its output besides the code version."""
        return {"params": self.params(), "model": self.model, "prompt": self.prompt_version, "training": self.training}

    @property
    def source_version(self) -> str:
        """The method's code version and a hash of everything else that shapes its output."""
        return f"{self.version}+{digest(self.version_payload())}"


def get_method(role: str, name: str, env=None, **params: object) -> Method:
    """The method ``name`` of ``role`` (its entry point's class), built with ``env`` and ``params``."""
    if role not in GROUPS:
        raise ClassifierError(f"unknown role {role!r}: choose from {', '.join(sorted(GROUPS))}")
    method = lookup(GROUPS[role], name, WHAT[role])(env, **params)
    method.name = name
    return method


def weight_grid(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weighting of ``n`` members on the simplex with steps of ``step`` (the ensembles' search)."""
    steps = int(round(1.0 / float(step)))
    return [tuple(c / steps for c in combo) for combo in itertools.product(range(steps + 1), repeat=n)
            if sum(combo) == steps]


def choose_weights(scored: list[tuple[float, tuple[float, ...]]], margin: float) -> tuple[float, ...]:
    """Of (out-of-fold figure, weights), the best single member's weights unless a mix beats it by
    more than ``margin`` (out-of-fold figures on a few hundred works are noisy: a mix must earn its place)."""
    single = max((s for s in scored if max(s[1]) == 1.0), key=lambda s: s[0])
    mixed = max(scored, key=lambda s: s[0])
    return mixed[1] if mixed[0] > single[0] + float(margin) else single[1]


def available_methods(role: str) -> dict[str, object]:
    """The entry points of the methods of ``role`` by name."""
    return plugins(GROUPS[role])
