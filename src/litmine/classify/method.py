"""One concept: a method scores works for a label set.

``Method`` is the base of every one of them, whatever label set it decides: the survey's placement
(with the sets derived from it and its themes; ``litmine.classify.base.Classifier``) or its scope
(label set ``scope``, label ``in``; ``litmine.classify.scope.ScopeMethod``). Which it decides is the
roles it declares (``roles``: ``placement``, ``scope`` or both); an instance decides one of them
(``role``, given when it is built). Scope is a label set like the placement, trained on its own
known decisions as the placement is on its gold labels. A class deciding both roles
(``litmine.classify.scope.PlacementAndScope``) answers each stage question with its role's code path.

The base holds what every method has: its name (set from its entry point), code version, parameters
(``defaults`` updated by the caller's), the model it reads (the embedder's, when it needs vectors),
the prompt version, a digest of its training data, and the version its rows carry:
``<version>+<digest of everything else that shapes its output>`` (``source_version``). A subclass
says what else shapes it in ``version_payload``. An attribute whose value differs by role (the
version, defaults, whether it reads vectors, the prompt version) is given as ``PerRole(...)``.

Every method registers through one door: one entry point in the group ``litmine.methods``
(``GROUP``), whatever roles its class decides; an unknown name, or a method that does not decide the
role asked for, lists the names there are for that role, in the same words for every group
(``lookup``). A plugin still registered in a group of before (``litmine.classifiers``,
``litmine.scope_methods``: ``OLD_GROUPS``) is read, for the role of its group, with a warning
naming the move.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings

from litmine.errors import ClassifierError
from litmine.plugins import plugins, unknown

log = logging.getLogger(__name__)

PLACEMENT, SCOPE = "placement", "scope"
ROLES = (PLACEMENT, SCOPE)
TITLE_ONLY = "title-only"  # the status of a row scored on a work's title alone (no abstract)
GROUP = "litmine.methods"  # the one entry-point group of every method, whatever its roles
OLD_GROUPS = {PLACEMENT: "litmine.classifiers", SCOPE: "litmine.scope_methods"}  # read with a warning
WHAT = {PLACEMENT: "classifier", SCOPE: "scope method"}  # role -> its name in messages
# Each role's default methods, in the order they run (the ensemble last: it reuses its members' work).
DEFAULTS = {PLACEMENT: ["zeroshot", "supervised", "llm", "ensemble"],
            SCOPE: ["supervised", "zeroshot", "llm", "ensemble"]}


class PerRole(dict):
    """A class attribute whose value differs by role: ``PerRole(placement=..., scope=...)``; an
    instance reads its own role's value."""


def digest(payload: object) -> str:
    """A short hash of ``payload`` as sorted JSON (what a row's version carries)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _roles(cls) -> tuple[str, ...]:
    return tuple(getattr(cls, "roles", ()) or ())


def available_methods(role: str) -> dict[str, type]:
    """The classes of the registered methods that decide ``role``, by name: every method of
    ``litmine.methods`` whose ``roles`` hold it, and (with a warning) a plugin left in the role's
    group of before."""
    check_role(role)
    found = {name: ep.load() for name, ep in plugins(GROUP).items()}
    out = {name: cls for name, cls in found.items() if role in _roles(cls)}
    for name, ep in plugins(OLD_GROUPS[role]).items():
        if name not in found:
            cls = ep.load()
            msg = (f"method {name!r} is registered in the entry-point group {OLD_GROUPS[role]!r}, which is "
                   f"deprecated: register it in {GROUP!r} (its class's `roles` say what it decides)")
            warnings.warn(msg, DeprecationWarning, stacklevel=2)
            log.warning("%s", msg)
            out[name] = cls
    return out


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ClassifierError(f"unknown role {role!r}: choose from {', '.join(ROLES)}")
    return role


class Method:
    """Base of every method that scores works for a label set (see the module)."""

    name = "base"
    version = "1"
    roles: tuple[str, ...] = (PLACEMENT,)  # what it can decide: placement (with derived sets, themes), scope
    needs_vectors = False
    prompt_version: str | None = None
    defaults: dict = {}

    def __init__(self, env=None, *, role: str | None = None, **params: object) -> None:
        role = self.roles[0] if role is None else role
        if role not in self.roles:
            raise ClassifierError(f"method {self.name!r} does not decide role {role!r} ({type(self).__name__} decides "
                                  f"{', '.join(self.roles)}): choose a method whose `roles` hold {role!r}")
        self.role = role  # the one role this instance decides
        for attr in ("version", "defaults", "needs_vectors", "prompt_version"):
            value = getattr(type(self), attr, None)
            if isinstance(value, PerRole):
                setattr(self, attr, value[role])
        self.env = env
        self.param_values: dict = {**self.defaults, **params}
        self.training = ""  # a digest of the examples it was fitted on (a method that learns)

    stage = "score"  # the stage table's name for its stage (a role says: ``classify-<name>``, ``screen``)

    def failure_key(self, work_id: int) -> tuple[str, str]:
        """Where a failure on ``work_id`` is recorded, the same for every role: its stage and
        ``<method> <work id>``."""
        return self.stage, f"{self.name} {work_id}"

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


def get_method(role: str, name: str, env=None, **params: object) -> "Method":
    """The method ``name`` (its entry point's class) built to decide ``role`` with ``env`` and
    ``params``; a name that is not registered, or whose class does not decide ``role``, fails with
    "unknown <what> '<name>': choose from <the methods of that role>"."""
    found = available_methods(check_role(role))
    if name not in found:
        raise unknown(WHAT[role], name, found)
    cls = found[name]
    method = cls(env, role=role, **params)
    method.name = name
    return method


def default_methods(role: str, env=None) -> list[str]:
    """The methods a run of ``role`` uses by default: the role's list, ``llm`` only when an LLM is
    configured."""
    has_llm = env is not None and getattr(env, "has_llm", False)
    return [m for m in DEFAULTS[check_role(role)] if m != "llm" or has_llm]
