"""The review queue: one card at a time, a click per decision. What the notebook displays.

``ReviewSession`` owns a review session's whole life: its queue, the card shown, what each click
recorded (so Undo can retract it) and the progress. Every decision goes through
``review.record_decision``, which journals it at once and never waits on the run lock.
``ReviewQueue`` is only its view (ipywidgets): each button calls one method of the session and
redraws the card. Tests drive the buttons' callbacks with ``button.click()``.

Keyboard shortcuts (``SHORTCUTS``: i / o in or out of scope, a / r accept or reject, m move, s skip,
u undo) come from a small anywidget inside the queue: it makes the queue focusable, listens for
``keydown`` there (never on the whole page, so typing in a cell is untouched), keeps JupyterLab's own
single-key shortcuts from firing while the queue has the focus, and sends the key to the kernel,
where ``ReviewQueue.press`` clicks the same button a mouse would. Tests call ``press`` or send the
widget's message.
"""

from __future__ import annotations

import dataclasses
import html
import logging
from dataclasses import dataclass, field

from litmine.review import decisions as review
from litmine.config import Settings
from litmine.errors import ReviewError

log = logging.getLogger(__name__)


@dataclass
class Step:
    """One click: where the queue stood before it, and the decisions it journaled (none: a skip)."""

    position: int
    decisions: list[review.Decision] = field(default_factory=list)
    skipped: bool = False
    replaces: "Step | None" = None  # an edit from the history: the step whose decisions it undid
    title: str | None = None  # the work's title, for the history list


REFIT_EVERY = 1  # decisions between two in-kernel refits that reorder the queue
STOP_AFTER = 50  # irrelevant decisions in a row after which the session suggests stopping


class ReviewSession:
    """A queue of questions and the reviewer's answers, in order; every answer journaled at once.

    One pass per paper: ``decide`` records scope, placement, themes and a note in one click. After
    every ``refit_every`` decisions a light model is refitted in the kernel on every decision so far
    (``review.refit_scores``) and the works still to come are reordered (screening and one-label
    queues; the disagreements queue keeps its priority order). A skipped work goes to the end of the
    queue; ``past()`` lists the decisions, ``revisit`` brings one back to be changed."""

    def __init__(self, settings: Settings, items: list[review.QueueItem], queue: str = "disagreements",
                 reviewer: str | None = None, refit_every: int = REFIT_EVERY):
        self.settings = settings
        self.items = items
        self.queue = queue
        self.reviewer = reviewer
        self.position = 0
        self.history: list[Step] = []
        self.refit_every = refit_every
        self.refits = 0  # how many times the queue was reordered by a refit
        self.refit_examples = 0  # labelled works the last refit learned from
        self._since_refit = 0
        self._editing: Step | None = None
        self._cards: dict[int, review.Card] = {}

    @classmethod
    def open(cls, settings: Settings, queue: str = "disagreements", label_set: str | None = None,
             label_id: str | None = None, limit: int = 200, reviewer: str | None = None,
             refit_every: int = REFIT_EVERY) -> "ReviewSession":
        items = review.queue_items(settings, queue, label_set=label_set, label_id=label_id, limit=limit)
        skipped = review.skipped_works(settings, review.QUEUE_ALIASES.get(queue, queue))
        items = [i for i in items if i.work_id not in skipped] + [i for i in items if i.work_id in skipped]
        return cls(settings, items, queue=queue, reviewer=reviewer, refit_every=refit_every)

    @property
    def _queue_name(self) -> str:
        return review.QUEUE_ALIASES.get(self.queue, self.queue)

    # -- where we are --------------------------------------------------------------------------

    @property
    def current(self) -> review.QueueItem | None:
        return self.items[self.position] if self.position < len(self.items) else None

    def card(self) -> review.Card | None:
        item = self.current
        if item is None:
            return None
        if self.position not in self._cards:
            self._cards[self.position] = review.card(self.settings, item)
        return self._cards[self.position]

    def _relevant(self, step: Step) -> bool:
        """Did the step find a relevant work: in scope (screening), else the label accepted?"""
        item = self.items[step.position]
        target = (review.SCOPE_SET, review.SCOPE_IN) if self.queue == "screening" else (item.label_set, item.label_id)
        return any((d.label_set, d.label_id, d.decision) == (*target, "accept") for d in step.decisions)

    def progress(self) -> dict:
        """Decisions made (``reviewed``), ``left`` (in screening: every unscreened work, however long
        the queue), relevant found, an estimate of the relevant works left with the method named, and
        ``consider_stopping`` (``STOP_AFTER`` irrelevant decisions in a row, or fewer than one relevant
        work expected among those left)."""
        decided = [s for s in self.history if s.decisions]
        rest = self.items[self.position:]
        out = {"reviewed": len(decided), "left": len(rest), "total": len(self.items)}
        if self.queue == "screening":
            out["left"] = review.count_unscreened(self.settings)
        found = sum(1 for s in decided if self._relevant(s))
        streak = 0
        for s in reversed(decided):
            if self._relevant(s):
                break
            streak += 1
        expected = sum(i.score or 0.0 for i in rest)
        out["found"] = found
        out["irrelevant_in_a_row"] = streak
        out["relevant_left"] = expected
        out["estimate_method"] = (f"sum of the in-kernel refit's probabilities over the {len(rest)} works queued "
                                  f"(refit on {self.refit_examples} labelled works)" if self.refits else
                                  f"sum of the ensemble's probabilities over the {len(rest)} works queued")
        out["consider_stopping"] = bool(decided) and (streak >= STOP_AFTER or expected < 1.0)
        if self.queue == "screening":
            out["found_in_scope"] = found
            out["share_found"] = found / (found + expected) if found + expected > 0 else None
        return out

    def past(self) -> list[tuple[int, str]]:
        """(index into ``history``, what was decided) of every decision of the session, newest first."""
        out = []
        for n, step in enumerate(self.history):
            if step.decisions:
                work = step.decisions[0].work_id
                said = ", ".join(f"{d.decision} {d.label_set} {d.label_id}" for d in step.decisions)
                title = f" {step.title[:50]}{'…' if len(step.title) > 50 else ''}" if step.title else ""
                out.append((n, f"work {work}{title}: {said}"))
        return out[::-1]

    # -- clicks --------------------------------------------------------------------------------

    def _record(self, answers: list[tuple[str, str, str]], advance: bool, note: str | None = None) -> list[review.Decision]:
        item = self.current
        if item is None:
            raise ReviewError("the queue is done: open another queue")
        shown = self._cards.get(self.position)
        step = Step(self.position, title=shown.work.get("title") if shown is not None else None)
        if self._editing is not None:  # a decision from the history, changed: retract it first
            old, self._editing = self._editing, None
            for d in reversed(old.decisions):
                review.undo_decision(self.settings, d)
            self.history.remove(old)
            step.replaces = old
        for label_set, label_id, decision in answers:
            step.decisions.append(review.record_decision(self.settings, item.work_id, label_set, label_id, decision,
                                                         note=note or None, reviewer=self.reviewer))
        self.history.append(step)
        self._cards.pop(self.position, None)  # the card's human word changed
        if advance:
            self.position += 1
        self._since_refit += 1
        if self._since_refit >= self.refit_every:
            self.rerank()
        return step.decisions

    def decide(self, in_scope: bool, placement: str | None = None, themes: tuple[str, ...] | list[str] = (),
               note: str | None = None) -> list[review.Decision]:
        """One pass over the current work: in or out of scope, and if in, its placement (a label of
        the survey's placement set) and themes, with a note; then the next work."""
        item = self.current
        if item is None:
            raise ReviewError("the queue is done: open another queue")
        answers = [(review.SCOPE_SET, review.SCOPE_IN, "accept" if in_scope else "reject")]
        sets = review.survey_sets(self.settings)
        if in_scope and placement:
            answers.append((sets["placement"], placement, "accept"))
            if item.label_set == sets.get("placement") and item.label_id != placement:
                answers.append((item.label_set, item.label_id, "reject"))
        if in_scope and themes:
            if not sets.get("themes"):
                raise ReviewError("the survey has no themes: its seed declares no label set with \"role\": \"themes\"")
            answers += [(sets["themes"], t, "accept") for t in themes]
        return self._record(answers, advance=True, note=note)

    def accept(self, note: str | None = None) -> list[review.Decision]:
        """The work carries the label in question."""
        item = self._placement_item()
        return self._record([(item.label_set, item.label_id, "accept")], advance=True, note=note)

    def reject(self, note: str | None = None) -> list[review.Decision]:
        """The work does not carry the label in question."""
        item = self._placement_item()
        return self._record([(item.label_set, item.label_id, "reject")], advance=True, note=note)

    def move(self, label_id: str, note: str | None = None) -> list[review.Decision]:
        """The work belongs to ``label_id`` instead: reject the label in question, accept this one."""
        item = self._placement_item()
        if label_id == item.label_id:
            return self.accept(note)
        return self._record([(item.label_set, item.label_id, "reject"), (item.label_set, label_id, "accept")],
                            advance=True, note=note)

    def scope(self, in_scope: bool, note: str | None = None) -> list[review.Decision]:
        """In or out of the survey's scope. Out always moves on; in moves on in the screening queue
        (elsewhere the placement is still to decide)."""
        advance = (not in_scope) or self.queue == "screening"
        return self._record([(review.SCOPE_SET, review.SCOPE_IN, "accept" if in_scope else "reject")], advance,
                            note=note)

    def theme(self, label_id: str, on: bool) -> list[review.Decision]:
        """The work does (``on``) or does not carry theme ``label_id``; the card stays."""
        themes = review.survey_sets(self.settings).get("themes")
        if not themes:
            raise ReviewError("the survey has no themes: its seed declares no label set with \"role\": \"themes\"")
        return self._record([(themes, label_id, "accept" if on else "reject")], advance=False)

    def skip(self) -> None:
        """Not now: the work goes to the end of the queue (it stays unscreened and comes back); the skip is
        kept (``review.record_skip``), so the next session puts it last too, until a decision or an undo."""
        item = self.current
        if item is None:
            raise ReviewError("the queue is done: open another queue")
        review.record_skip(self.settings, item, self._queue_name, reviewer=self.reviewer)
        self.history.append(Step(self.position, skipped=True))
        self.items.append(item)
        self.position += 1

    def undo(self) -> list[review.Decision]:
        """Retract the last click: its decisions are undone (journaled too) and its card comes back."""
        if not self.history:
            raise ReviewError("nothing to undo in this session")
        step = self.history.pop()
        undone = [review.undo_decision(self.settings, d) for d in reversed(step.decisions)]
        if step.skipped:  # the skipped work's copy further down the queue goes, and its kept skip
            work_id = self.items[step.position].work_id
            review.record_skip(self.settings, self.items[step.position], self._queue_name, reviewer=self.reviewer,
                               undo=True)
            later = [k for k in range(step.position + 1, len(self.items)) if self.items[k].work_id == work_id]
            if later:
                del self.items[later[-1]]
        self.position = step.position
        self._cards.pop(self.position, None)
        return undone

    def revisit(self, index: int) -> review.QueueItem:
        """Bring back the work of ``history[index]`` as the current card; the next decision on it
        replaces that step's decisions (they are undone first)."""
        if not 0 <= index < len(self.history) or not self.history[index].decisions:
            raise ReviewError(f"no decision {index} in this session's history: pick one of past()")
        step = self.history[index]
        item = self.items[step.position]
        self.items.insert(self.position, item)
        self._cards = {k: v for k, v in self._cards.items() if k < self.position}
        self._editing = step
        return item

    def rerank(self) -> bool:
        """Refit the light model on every decision so far and reorder the works still to come (the
        likeliest first, or the least sure first with LITMINE_SCREENING_ORDER=uncertain; skipped
        works stay last). True if the queue was reordered."""
        self._since_refit = 0
        rest = self.items[self.position:]
        if self.queue not in ("screening", "label") or len(rest) < 2:
            return False
        label_set, label_id = rest[0].label_set, rest[0].label_id
        scores, examples = review.refit_scores(self.settings, label_set, label_id, [i.work_id for i in rest])
        if not scores:
            return False
        skipped = {self.items[s.position].work_id for s in self.history if s.skipped}
        uncertain = self.queue == "screening" and self.settings.screening_order == "uncertain"
        rescored = [dataclasses.replace(i, score=scores[i.work_id], why=f"refit on {examples} labelled works: "
                                        f"{scores[i.work_id]:.2f}") if i.work_id in scores else i for i in rest]

        def key(i: review.QueueItem) -> tuple:
            p = i.score if i.work_id in scores else None
            return (i.work_id in skipped, p is None, abs(p - 0.5) if uncertain and p is not None else -(p or 0.0))

        seen: set[int] = set()
        ordered = []
        for i in sorted(rescored, key=key):
            if i.work_id not in seen:  # a skipped work's copy: once
                seen.add(i.work_id)
                ordered.append(i)
        self.items[self.position:] = ordered
        self._cards = {k: v for k, v in self._cards.items() if k < self.position}
        self.refits += 1
        self.refit_examples = examples
        return True

    def _placement_item(self) -> review.QueueItem:
        item = self.current
        if item is None:
            raise ReviewError("the queue is done: open another queue")
        if item.label_set == review.SCOPE_SET:
            raise ReviewError("this is the screening queue: use In scope / Out of scope, or open a "
                              "subsection queue to place the work")
        return item


# -- the view ------------------------------------------------------------------------------------


def _bar(score: float | None) -> str:
    width = 0 if score is None else max(0.0, min(1.0, float(score))) * 100
    return (f'<span style="display:inline-block;width:120px;height:9px;background:#e5e5e5;vertical-align:middle">'
            f'<span style="display:block;width:{width:.0f}%;height:9px;background:#4c72b0"></span></span>')


def card_html(c: review.Card | None) -> str:
    """The card as HTML: title and link, authors, year, abstract, the question, a bar per method, the
    rationales, the survey's label and status, the nearest labelled works."""
    e = html.escape
    if c is None:
        return "<p><b>Nothing left in this queue.</b> Open another queue, or run <code>litmine classify</code>.</p>"
    w, item = c.work, c.item
    link = f"https://arxiv.org/abs/{w['arxiv_id']}" if w.get("arxiv_id") else None
    title = e(w["title"] or "(untitled)")
    out = [f'<h3 class="litmine-card-title">{f"<a href={chr(34)}{link}{chr(34)} target=_blank>{title}</a>" if link else title}</h3>',
           f"<p>{e(', '.join(w.get('authors') or []) or 'authors unknown')} &middot; {w.get('year') or 'n.d.'}"
           f"{' &middot; arXiv:' + e(w['arxiv_id']) if w.get('arxiv_id') else ''}</p>"]
    question = ("Is it in the survey's scope?" if item.label_set == review.SCOPE_SET
                else f"Does it belong to {e(item.label_set)} {e(item.label_id)} {e(c.label_name or '')}?")
    out.append(f"<p><b>{question}</b> <i>{e(item.why)}</i></p>")
    if c.scope_probability is not None:
        from litmine.review.digest import confidence

        out.append(f"<p class='litmine-scope'>In scope: <b>{c.scope_probability:.2f}</b> "
                   f"({e(confidence(None, c.scope_probability))}) {_bar(c.scope_probability)}</p>")
    if c.placements:
        out.append("<p class='litmine-placements'>Placements: " + " &middot; ".join(
            f"<b>{n}</b> {e(label)} {e(name)}" + (f" ({score:.2f})" if score is not None else "")
            for n, (label, name, score) in enumerate(c.placements, 1)) + "</p>")
    if c.agreed is not None:
        out.append(f"<p class='litmine-agreed'>The seed's screening annotators: <b>{'in' if c.agreed['inside'] else 'out'}"
                   f"</b> of scope ({e(str(c.agreed.get('status') or 'agreed'))})</p>")
    if c.human is not None:
        out.append(f"<p>A reviewer already said: <b>{'yes' if c.human else 'no'}</b></p>")
    out.append(f"<p style='max-height:12em;overflow:auto'>{e(w.get('abstract') or '(no abstract stored)')}</p>")
    out.append("<table><tr><th>method</th><th>score</th><th></th><th>says</th></tr>")
    for s in c.scores:
        score = "-" if s["score"] is None else f"{s['score']:.2f}"
        out.append(f"<tr><td>{e(s['source'])}</td><td>{_bar(s['score'])}</td><td>{score}</td>"
                   f"<td>{'yes' if s['assigned'] else 'no'}</td></tr>")
    out.append("</table>")
    rationales = [(s["source"], s["rationale"]) for s in c.scores if s.get("rationale")]
    for source, text in rationales:
        out.append(f"<p><b>{e(source)}</b>: {e(text)}</p>")
    if c.survey:
        out.append(f"<p>Survey: [{c.survey['ref']}] {e(c.survey['key'])}; {e(item.label_set)} "
                   f"{e(', '.join(c.survey_labels) or '-')}; status <b>{e(str(c.survey['label_status']))}</b></p>")
    else:
        out.append("<p>Survey: not cited by the survey.</p>")
    if c.nearest:
        out.append("<p>Nearest labelled works:</p><ul>")
        out += [f"<li>{n['similarity']:.2f} [{e(', '.join(n['labels']))}] {e(n['title'])}</li>" for n in c.nearest]
        out.append("</ul>")
    return "\n".join(out)


# key -> (the ReviewQueue button it clicks, what it does): shown on the buttons and under the card.
SHORTCUTS = {
    "i": ("in_scope", "in scope"),
    "o": ("out_of_scope", "out of scope"),
    "a": ("accept", "accept"),
    "r": ("reject", "reject"),
    "m": ("move", "move to the chosen subsection"),
    "s": ("skip", "skip"),
    "u": ("undo", "undo"),
    "1": ("place_1", "in scope, the card's placement 1"),
    "2": ("place_2", "placement 2"),
    "3": ("place_3", "placement 3"),
}

# The browser half of the shortcuts (anywidget's ES module). It attaches to the enclosing queue once
# the queue is in the page, ignores keys typed into a text field or the drop-down, and says whether
# the keys are live (the queue has the focus) or how to make them so.
_KEYS_ESM = r"""
const TYPING = new Set(["TEXTAREA", "SELECT"]);
const BOXES = new Set(["checkbox", "radio", "button", "submit"]);

function typing(target) {
  if (!target || target.isContentEditable) return !!target;
  if (TYPING.has(target.tagName)) return true;
  return target.tagName === "INPUT" && !BOXES.has((target.type || "").toLowerCase());
}

function render({ model, el }) {
  const keys = new Set(model.get("shortcuts"));
  const legend = model.get("legend");
  el.classList.add("litmine-keys");
  el.style.cssText = "font-size:90%;color:#555;margin:2px 0";
  let queue = null;
  const show = () => {
    const live = !!queue && queue.contains(document.activeElement);
    el.textContent = "Keys: " + legend + (live ? "  (on)" : "  (click the card to use them)");
  };
  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const key = (event.key || "").toLowerCase();
    if (!keys.has(key)) return;
    event.preventDefault();
    event.stopPropagation();  // JupyterLab's shortcuts listen on the document, after this
    if (!event.repeat) model.send({ key });
  };
  const focusOnClick = (event) => { if (!typing(event.target)) queue.focus({ preventScroll: true }); };
  let tries = 0;
  const attach = () => {
    queue = el.closest(".litmine-review-queue");
    if (!queue && tries++ < 600) { requestAnimationFrame(attach); return; }  // not in the page yet
    queue = queue || el;
    queue.tabIndex = 0;
    queue.setAttribute("data-lm-suppress-shortcuts", "true");
    queue.style.outline = "none";
    queue.addEventListener("keydown", onKey);
    queue.addEventListener("click", focusOnClick);
    queue.addEventListener("focusin", show);
    queue.addEventListener("focusout", () => setTimeout(show, 0));
    queue.focus({ preventScroll: true });
    show();
  };
  show();
  attach();
  return () => {
    if (!queue) return;
    queue.removeEventListener("keydown", onKey);
    queue.removeEventListener("click", focusOnClick);
  };
}

export default { render };
"""

_keys_class = None


def _keys_widget(on_key):
    """The anywidget that forwards the queue's key presses to ``on_key(key)``."""
    global _keys_class
    if _keys_class is None:
        import anywidget
        import traitlets

        class ReviewKeys(anywidget.AnyWidget):
            _esm = _KEYS_ESM
            shortcuts = traitlets.List(traitlets.Unicode()).tag(sync=True)
            legend = traitlets.Unicode().tag(sync=True)

        _keys_class = ReviewKeys
    legend = " · ".join(f"{key} {what}" for key, (_, what) in SHORTCUTS.items())
    widget = _keys_class(shortcuts=list(SHORTCUTS), legend=legend)
    widget.on_msg(lambda _widget, content, _buffers: on_key(str(content.get("key", ""))))
    return widget


class ReviewQueue:
    """The widget: a card, the decision buttons, theme check-boxes, progress and the last message."""

    def __init__(self, session: ReviewSession):
        import ipywidgets as w

        self.session = session
        self.card = w.HTML()
        self.progress = w.HTML()
        self.message = w.HTML()
        self.in_scope = w.Button(description="In scope (i)", button_style="success")
        self.out_of_scope = w.Button(description="Out of scope (o)", button_style="danger")
        self.accept = w.Button(description="Accept (a)", button_style="success")
        self.reject = w.Button(description="Reject (r)", button_style="danger")
        sets = review.survey_sets(session.settings)
        self.placement = sets.get("placement")
        names = review.labels(session.settings, self.placement) if self.placement else []
        self.move_to = w.Dropdown(options=[(f"{lid} {name[:40]}", lid) for lid, name in names],
                                  description="Move to", layout=w.Layout(width="320px"))
        self.move = w.Button(description="Move (m)")
        self.skip = w.Button(description="Skip (s)")
        self.undo = w.Button(description="Undo (u)")
        self.place_1, self.place_2, self.place_3 = (w.Button(description=f"In, placement {n} ({n})",
                                                             layout=w.Layout(width="260px")) for n in (1, 2, 3))
        self.note = w.Textarea(placeholder="note, kept with the decision", continuous_update=False,
                               layout=w.Layout(width="640px", height="3em"))
        self.history = w.Select(options=[], rows=5, description="Decided", layout=w.Layout(width="900px"))
        self.change = w.Button(description="Change this decision", layout=w.Layout(width="200px"))
        self.theme_names = dict(review.labels(session.settings, sets["themes"]) if sets.get("themes") else [])
        self.themes = {lid: w.Checkbox(description=name, tooltip=lid, indent=False,
                                       layout=w.Layout(width="560px"))
                       for lid, name in self.theme_names.items()}
        self._drawing = False
        for button, action in ((self.in_scope, self._in_scope),
                               (self.out_of_scope, lambda: session.decide(False, note=self._note())),
                               (self.accept, lambda: session.accept(self._note())),
                               (self.reject, lambda: session.reject(self._note())),
                               (self.move, lambda: session.move(self.move_to.value, self._note())),
                               (self.skip, session.skip), (self.undo, session.undo),
                               (self.change, self._revisit)):
            button.on_click(self._handler(action))
        for n, button in enumerate((self.place_1, self.place_2, self.place_3)):
            button.on_click(self._handler(self._place(n)))
        for label_id, box in self.themes.items():
            box.observe(self._theme_handler(label_id), names="value")
        self.keys = _keys_widget(self.press)
        self.widget = w.VBox([
            self.progress, self.keys, self.card,
            w.HBox([self.place_1, self.place_2, self.place_3]),
            w.HBox([self.in_scope, self.out_of_scope]),
            w.HBox([self.accept, self.reject, self.move_to, self.move]),
            w.HTML("<b>Themes</b> (tick what the work is about; the machine's guess is beside each)"),
            w.GridBox(list(self.themes.values()), layout=w.Layout(grid_template_columns="repeat(2, 570px)")),
            self.note, w.HBox([self.skip, self.undo]), self.message,
            w.HBox([self.history, self.change]),
        ])
        self.widget.add_class("litmine-review-queue")
        self.draw()

    @property
    def one_pass(self) -> bool:
        """Screening: themes ticked on the card are recorded with the scope decision, in one pass;
        in the other queues each tick is recorded at once."""
        return self.session.queue == "screening"

    def _note(self) -> str | None:
        return self.note.value.strip() or None

    def _ticked(self) -> list[str]:
        return [label_id for label_id, box in self.themes.items() if box.value] if self.one_pass else []

    def _in_scope(self):
        if self.one_pass:
            return self.session.decide(True, themes=self._ticked(), note=self._note())
        return self.session.scope(True, note=self._note())

    def _place(self, n: int):
        def action():
            c = self.session.card()
            if c is None or n >= len(c.placements):
                raise ReviewError(f"this card has no placement {n + 1}")
            return self.session.decide(True, placement=c.placements[n][0], themes=self._ticked(), note=self._note())
        return action

    def _revisit(self):
        if self.history.value is None:
            raise ReviewError("pick a decision in the list first")
        self.session.revisit(self.history.value)
        return []

    @classmethod
    def open(cls, settings: Settings, queue: str = "disagreements", label_set: str | None = None,
             label_id: str | None = None, limit: int = 200) -> "ReviewQueue":
        return cls(ReviewSession.open(settings, queue, label_set=label_set, label_id=label_id, limit=limit))

    def press(self, key: str) -> None:
        """A key pressed in the queue: click its button (as a mouse would, so a disabled button does
        nothing), or say which keys there are."""
        name = SHORTCUTS.get(key.lower(), (None,))[0]
        if name is None:
            keys = ", ".join(f"{k} {what}" for k, (_, what) in SHORTCUTS.items())
            self.message.value = f"<span style='color:#b00'>no shortcut {html.escape(repr(key))}: the keys are {keys}</span>"
            return
        button = getattr(self, name)
        if button.disabled:
            self.message.value = (f"<span style='color:#b00'>{html.escape(button.description)} is not available "
                                  "on this card</span>")
            return
        button.click()

    def _handler(self, action):
        def on_click(_button) -> None:
            self._run(action)
        return on_click

    def _theme_handler(self, label_id: str):
        def on_change(change) -> None:
            if not self._drawing and not self.one_pass:
                self._run(lambda: self.session.theme(label_id, bool(change["new"])))
        return on_change

    def _run(self, action) -> None:
        try:
            done = action()
        except ReviewError as exc:
            self.message.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        if done is not None and not done:
            lines = ["change the decision: decide this card again"]
        else:
            lines = [str(d) for d in done or []] or ["skipped"]
        self.message.value = "<br>".join(html.escape(line) for line in lines)
        if done:
            self.note.value = ""
        self.draw()

    def draw(self) -> None:
        s = self.session
        c = s.card()
        self.card.value = card_html(c)
        p = s.progress()
        text = f"<b>{s.queue}</b>: {p['reviewed']} reviewed, {p['left']} left"
        text += (f"; {p['found']} relevant found; about {p['relevant_left']:.1f} relevant left "
                 f"<i>({html.escape(p['estimate_method'])})</i>")
        if s.refits:
            text += f"; reordered {s.refits} times as you decide"
        if p["consider_stopping"]:
            text += (f"; <b class='litmine-stop'>consider stopping</b> ({p['irrelevant_in_a_row']} irrelevant in a row, "
                     f"about {p['relevant_left']:.1f} relevant left)")
        self.progress.value = text
        self.history.options = [(what, n) for n, what in s.past()]
        if self.history.options and self.history.value is None:
            self.history.value = self.history.options[0][1]  # the newest decision, ready to change
        self.change.disabled = not self.history.options
        placing = c is not None and c.item.label_set != review.SCOPE_SET
        for button in (self.accept, self.reject, self.move):
            button.disabled = not placing
        for button in (self.in_scope, self.out_of_scope, self.skip):
            button.disabled = c is None
        for n, button in enumerate((self.place_1, self.place_2, self.place_3)):
            has = c is not None and n < len(c.placements)
            button.disabled = not has
            button.description = (f"In, {c.placements[n][0]} ({n + 1})" if has else f"In, placement {n + 1} ({n + 1})")
        self.undo.disabled = not s.history
        if placing and c.item.label_set == self.placement and c.item.label_id in dict(self.move_to.options).values():
            self.move_to.value = c.item.label_id
        self._drawing = True
        try:
            for label_id, box in self.themes.items():
                box.value = c is not None and label_id in c.themes  # a reviewer's word only: unticked at first
                box.disabled = c is None
                guess = c.theme_guesses.get(label_id) if c is not None else None
                box.description = self.theme_names[label_id] + (f" · machine: {'yes' if guess[0] else 'no'}"
                                              + (f" {guess[1]:.2f}" if guess[1] is not None else "") if guess else "")
        finally:
            self._drawing = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
