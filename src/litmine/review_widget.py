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

import html
import logging
from dataclasses import dataclass, field

from litmine import review
from litmine.config import Settings
from litmine.errors import ReviewError

log = logging.getLogger(__name__)


@dataclass
class Step:
    """One click: where the queue stood before it, and the decisions it journaled."""

    position: int
    decisions: list[review.Decision] = field(default_factory=list)


class ReviewSession:
    """A queue of questions and the reviewer's answers, in order; every answer journaled at once."""

    def __init__(self, settings: Settings, items: list[review.QueueItem], queue: str = "disagreements",
                 reviewer: str | None = None):
        self.settings = settings
        self.items = items
        self.queue = queue
        self.reviewer = reviewer
        self.position = 0
        self.history: list[Step] = []
        self._cards: dict[int, review.Card] = {}

    @classmethod
    def open(cls, settings: Settings, queue: str = "disagreements", label_set: str | None = None,
             label_id: str | None = None, limit: int = 200, reviewer: str | None = None) -> "ReviewSession":
        items = review.queue_items(settings, queue, label_set=label_set, label_id=label_id, limit=limit)
        return cls(settings, items, queue=queue, reviewer=reviewer)

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

    def progress(self) -> dict:
        """Reviewed (cards with a decision), left (cards not yet passed), and during screening the
        estimated share of the queue's in-scope works already found (from the machine scores)."""
        decided = {s.position for s in self.history if s.decisions}
        out = {"reviewed": len(decided), "left": len(self.items) - self.position, "total": len(self.items)}
        if self.queue == "screening":
            found = sum(1 for s in self.history for d in s.decisions
                        if d.label_set == review.SCOPE_SET and d.decision == "accept")
            expected = sum(i.score or 0.0 for i in self.items[self.position:])
            out["found_in_scope"] = found
            out["share_found"] = found / (found + expected) if found + expected > 0 else None
        return out

    # -- clicks --------------------------------------------------------------------------------

    def _record(self, answers: list[tuple[str, str, str]], advance: bool) -> list[review.Decision]:
        item = self.current
        if item is None:
            raise ReviewError("the queue is done: open another queue")
        step = Step(self.position)
        for label_set, label_id, decision in answers:
            step.decisions.append(review.record_decision(self.settings, item.work_id, label_set, label_id, decision,
                                                         reviewer=self.reviewer))
        self.history.append(step)
        self._cards.pop(self.position, None)  # the card's human word changed
        if advance:
            self.position += 1
        return step.decisions

    def accept(self) -> list[review.Decision]:
        """The work carries the label in question."""
        item = self._placement_item()
        return self._record([(item.label_set, item.label_id, "accept")], advance=True)

    def reject(self) -> list[review.Decision]:
        """The work does not carry the label in question."""
        item = self._placement_item()
        return self._record([(item.label_set, item.label_id, "reject")], advance=True)

    def move(self, label_id: str) -> list[review.Decision]:
        """The work belongs to ``label_id`` instead: reject the label in question, accept this one."""
        item = self._placement_item()
        if label_id == item.label_id:
            return self.accept()
        return self._record([(item.label_set, item.label_id, "reject"), (item.label_set, label_id, "accept")],
                            advance=True)

    def scope(self, in_scope: bool) -> list[review.Decision]:
        """In or out of the survey's scope. Out always moves on; in moves on in the screening queue
        (elsewhere the placement is still to decide)."""
        advance = (not in_scope) or self.queue == "screening"
        return self._record([(review.SCOPE_SET, review.SCOPE_IN, "accept" if in_scope else "reject")], advance)

    def theme(self, label_id: str, on: bool) -> list[review.Decision]:
        """The work does (``on``) or does not carry theme ``label_id``; the card stays."""
        themes = review.survey_sets(self.settings).get("themes")
        if not themes:
            raise ReviewError("the survey has no themes: its seed declares no label set with \"role\": \"themes\"")
        return self._record([(themes, label_id, "accept" if on else "reject")], advance=False)

    def skip(self) -> None:
        if self.current is None:
            raise ReviewError("the queue is done: open another queue")
        self.history.append(Step(self.position))
        self.position += 1

    def undo(self) -> list[review.Decision]:
        """Retract the last click: its decisions are undone (journaled too) and its card comes back."""
        if not self.history:
            raise ReviewError("nothing to undo in this session")
        step = self.history.pop()
        undone = [review.undo_decision(self.settings, d) for d in reversed(step.decisions)]
        self.position = step.position
        self._cards.pop(self.position, None)
        return undone

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
        self.themes = {lid: w.Checkbox(description=f"{lid}", indent=False, layout=w.Layout(width="210px"))
                       for lid, _ in (review.labels(session.settings, sets["themes"]) if sets.get("themes") else [])}
        self._drawing = False
        for button, action in ((self.in_scope, lambda: session.scope(True)),
                               (self.out_of_scope, lambda: session.scope(False)),
                               (self.accept, session.accept), (self.reject, session.reject),
                               (self.move, lambda: session.move(self.move_to.value)),
                               (self.skip, session.skip), (self.undo, session.undo)):
            button.on_click(self._handler(action))
        for label_id, box in self.themes.items():
            box.observe(self._theme_handler(label_id), names="value")
        self.keys = _keys_widget(self.press)
        self.widget = w.VBox([
            self.progress, self.keys, self.card,
            w.HBox([self.in_scope, self.out_of_scope]),
            w.HBox([self.accept, self.reject, self.move_to, self.move]),
            w.HTML("<b>Themes</b>"), w.GridBox(list(self.themes.values()),
                                                layout=w.Layout(grid_template_columns="repeat(4, 220px)")),
            w.HBox([self.skip, self.undo]), self.message,
        ])
        self.widget.add_class("litmine-review-queue")
        self.draw()

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
            if not self._drawing:
                self._run(lambda: self.session.theme(label_id, bool(change["new"])))
        return on_change

    def _run(self, action) -> None:
        try:
            done = action()
        except ReviewError as exc:
            self.message.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        lines = [str(d) for d in done or []] or ["skipped"]
        self.message.value = "<br>".join(html.escape(line) for line in lines)
        self.draw()

    def draw(self) -> None:
        s = self.session
        c = s.card()
        self.card.value = card_html(c)
        p = s.progress()
        text = f"<b>{s.queue}</b>: {p['reviewed']} reviewed, {p['left']} left of {p['total']}"
        if p.get("share_found") is not None:
            text += f"; about {p['share_found']:.0%} of the in-scope works found"
        self.progress.value = text
        placing = c is not None and c.item.label_set != review.SCOPE_SET
        for button in (self.accept, self.reject, self.move):
            button.disabled = not placing
        for button in (self.in_scope, self.out_of_scope, self.skip):
            button.disabled = c is None
        self.undo.disabled = not s.history
        if placing and c.item.label_set == self.placement and c.item.label_id in dict(self.move_to.options).values():
            self.move_to.value = c.item.label_id
        self._drawing = True
        try:
            for label_id, box in self.themes.items():
                box.value = c is not None and label_id in c.themes
                box.disabled = c is None
        finally:
            self._drawing = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
