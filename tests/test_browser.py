"""The review queue as a reviewer uses it: JupyterLab on 127.0.0.1 serves notebooks/review_queue.ipynb,
headless Chromium (the Debian package, driven by Selenium; nothing is downloaded) runs it and clicks
Accept; the decision is in the journal at once and, after the next `litmine classify`, a human label.
Then it types the shortcut keys r (reject the next card) and u (undo that): both are journaled too.

Every wait is on a condition with a generous limit, so a loaded two-core machine only makes it slower.
A screenshot of the queue is saved beside the test's output (its tmp_path); set REVIEW_SCREENSHOT_DIR
to an absolute path to also write it there (the README's copy is docs/review_queue.png).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_review import NEW_WORKS

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "review_queue.ipynb"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WAIT = 300  # seconds: a limit for a condition, never a sleep
NEW_TITLES = [title for _, title, _ in NEW_WORKS]


def _missing() -> list[str]:
    missing = [f"the Debian package {pkg} ({path})" for pkg, path in (("chromium", CHROMIUM),
                                                                      ("chromium-driver", CHROMEDRIVER))
               if not path.exists()]
    missing += [f"the Python package {mod}" for mod in ("selenium", "jupyterlab", "ipywidgets")
                if importlib.util.find_spec(mod) is None]
    return missing


def _wait(condition, what: str, timeout: float = WAIT, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path, data_dir, monkeypatch):
    """JupyterLab serving a copy of the notebook, its state in tmp_path, kernels seeing the test's data."""
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    home = tmp_path / "jupyter"
    (home / "config" / "labconfig").mkdir(parents=True)
    # No news pop-up over the notebook (it would ask to go online).
    (home / "config" / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    # The widgets' JupyterLab extensions live beside the packages (an overlay venv's own prefix has none).
    shares = [str(Path(p).parents[2] / "share" / "jupyter") for p in sys.path if p.endswith("site-packages")
              and (Path(p).parents[2] / "share" / "jupyter" / "labextensions").is_dir()]
    env = dict(os.environ, JUPYTER_PATH=os.pathsep.join(filter(None, [os.environ.get("JUPYTER_PATH", "")] + shares)),
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"), MPLBACKEND="Agg")
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
         "--LabApp.expose_app_in_browser=True", "--LabServerApp.extension_manager=readonly",
         "--ServerApp.terminals_enabled=False"] + (["--allow-root"] if os.geteuid() == 0 else []),
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited ({proc.returncode}): see {tmp_path / 'jupyterlab.log'}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=10) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        _wait(up, "JupyterLab to answer on 127.0.0.1")
        yield f"{url}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1400,1700", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def prerequisites():
    missing = _missing()
    if missing:
        pytest.fail("the browser test needs " + ", ".join(missing) + ": run `make test` (it installs them), or "
                    "`apt-get install chromium chromium-driver` and `pip install -e '.[test]'`", pytrace=False)


def test_a_click_in_the_queue_is_journaled_and_becomes_a_human_label(prerequisites, review_copy, store, settings,
                                                                    monkeypatch, jupyterlab, browser, tmp_path,
                                                                    record_property):
    from click.testing import CliRunner

    from litmine.review import decisions as review
    from litmine.cli import main

    monkeypatch.setenv("LITMINE_EMBED_MODEL", "hashing:64")  # the embedder build_review_db used (review_copy)
    top, following = review.list_disagreements(settings, label_set="subsection")[:2]

    try:
        _click_accept_in_the_browser(browser, jupyterlab, settings, top, tmp_path, record_property)
        _type_reject_then_undo(browser, settings, following)
    except Exception:
        browser.save_screenshot(str(tmp_path / "failure.png"))
        raise

    result = CliRunner().invoke(main, ["classify", "-m", "zeroshot", "--limit", "1"])
    assert result.exit_code == 0, result.output
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT work_id, label_set, label_id, assigned, status FROM label_assignments "
                           "WHERE source = 'human'").fetchall() == [
            (top.work_id, "subsection", top.label_id, True, "accept")]


def _click_accept_in_the_browser(browser, url, settings, top, tmp_path, record_property):
    from selenium.webdriver.common.by import By

    from litmine.review import decisions as review

    browser.get(url)
    _wait(lambda: browser.execute_script("return !!(window.jupyterapp && document.querySelector('.jp-Notebook'))"),
          "JupyterLab to open the notebook")
    # Run All through JupyterLab's own command, as the Run menu does, once the kernel is idle.
    _wait(lambda: browser.execute_script(
        "const nb = window.jupyterapp.shell.currentWidget;"
        "const kernel = nb && nb.sessionContext && nb.sessionContext.session && nb.sessionContext.session.kernel;"
        "return !!kernel && kernel.status === 'idle'"
        " && window.jupyterapp.commands.isEnabled('notebook:run-all-cells')"), "the notebook's kernel to be idle")
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    accept = "//div[contains(@class, 'litmine-review-queue')]//button[normalize-space() = 'Accept (a)']"
    button = _wait(lambda: next((b for b in browser.find_elements(By.XPATH, accept) if b.is_enabled()), None),
                   "the review queue's Accept button")
    title = browser.find_element(By.CSS_SELECTOR, ".litmine-card-title").text
    assert title == top.title
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()

    def journaled():
        return [e for e in review.read_journal(settings) if e["decision"] == "accept"]

    entries = _wait(journaled, "the decision in the journal")
    assert [(e["work_id"], e["label_set"], e["label_id"]) for e in entries] == [
        (top.work_id, "subsection", top.label_id)]
    said = f"accept subsection {top.label_id} for work {top.work_id}"
    _wait(lambda: said in browser.find_element(By.CSS_SELECTOR, ".litmine-review-queue").text,
          "the queue to confirm the decision and show the next card")

    browser.execute_script("window.jupyterapp.shell.collapseLeft()")  # the card, not the file browser
    shot = tmp_path / "review_queue.png"
    browser.save_screenshot(str(shot))
    record_property("screenshot", str(shot))
    if os.environ.get("REVIEW_SCREENSHOT_DIR"):
        Path(os.environ["REVIEW_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["REVIEW_SCREENSHOT_DIR"]) / shot.name)


def _type_reject_then_undo(browser, settings, following):
    """Keys typed in the queue (after a click on it gives it the focus) decide as the buttons do."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from litmine.review import decisions as review

    assert browser.find_element(By.CSS_SELECTOR, ".litmine-card-title").text == following.title
    hint = browser.find_element(By.CSS_SELECTOR, ".litmine-review-queue .litmine-keys")
    assert "a accept" in hint.text and "u undo" in hint.text
    hint.click()
    _wait(lambda: hint.text.endswith("(on)"), "the queue to take the keyboard focus")
    ActionChains(browser).send_keys("r").perform()

    def journaled(decision):
        return lambda: [e for e in review.read_journal(settings) if e["decision"] == decision]

    [entry] = _wait(journaled("reject"), "the key r's decision in the journal")
    assert (entry["work_id"], entry["label_set"], entry["label_id"]) == (
        following.work_id, "subsection", following.label_id)
    ActionChains(browser).send_keys("u").perform()
    [entry] = _wait(journaled("undo"), "the key u's undo in the journal")
    assert entry["work_id"] == following.work_id
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, ".litmine-card-title").text == following.title,
          "the undone card to come back")
    # The keys went to the queue, not to JupyterLab: no cell was added (a) nor output hidden (o).
    assert browser.execute_script("return window.jupyterapp.shell.currentWidget.content.widgets.length") == 3


def test_one_pass_on_a_new_paper_reorders_the_queue_and_a_past_decision_is_changed(
        prerequisites, review_copy, store, settings, monkeypatch, jupyterlab, browser, tmp_path):
    """The screening queue in the browser: a theme ticked, a note typed, placement 1 clicked (scope,
    placement, theme and note in one decision); the queue reorders after it; the decision is then
    changed from the history list to out of scope, and the database holds exactly that."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from litmine.review import decisions as review
    from test_review import _screen_with_ensemble

    monkeypatch.setenv("LITMINE_EMBED_MODEL", "hashing:64")
    (tmp_path / "lab" / "litmine.toml").write_text('reviewer = "dana"\n')  # the kernel's settings: its reviewer
    new = review_copy["new_work_ids"]
    _screen_with_ensemble(store, new, [(0.45, 0.1), (0.4, 0.2), (0.2, 0.99)])
    notebook = tmp_path / "lab" / NOTEBOOK.name  # the copy JupyterLab serves: open the screening queue
    notebook.write_text(notebook.read_text().replace('QUEUE = \\"disagreements\\"', 'QUEUE = \\"screening\\"'))
    assert 'QUEUE = \\"screening\\"' in notebook.read_text()
    try:
        browser.get(jupyterlab)
        _wait(lambda: browser.execute_script("return !!(window.jupyterapp && document.querySelector('.jp-Notebook'))"),
              "JupyterLab to open the notebook")
        _wait(lambda: browser.execute_script(
            "const nb = window.jupyterapp.shell.currentWidget;"
            "const k = nb && nb.sessionContext && nb.sessionContext.session && nb.sessionContext.session.kernel;"
            "return !!k && k.status === 'idle' && window.jupyterapp.commands.isEnabled('notebook:run-all-cells')"),
            "the notebook's kernel to be idle")
        browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        queue = ".litmine-review-queue"
        place = "//div[contains(@class, 'litmine-review-queue')]//button[starts-with(normalize-space(), 'In, ') " \
                "and contains(normalize-space(), '(1)')]"
        button = _wait(lambda: next((b for b in browser.find_elements(By.XPATH, place) if b.is_enabled()), None),
                       "the card's first placement button")
        assert browser.find_element(By.CSS_SELECTOR, ".litmine-card-title").text == NEW_TITLES[0]
        placed = button.text.split("In, ")[1].split(" (1)")[0]
        boxes = browser.find_elements(By.CSS_SELECTOR, f"{queue} input[type=checkbox]")
        assert boxes and not any(b.is_selected() for b in boxes)  # unticked, the machine's guess beside
        theme_box = boxes[0]
        shown = theme_box.find_element(By.XPATH, "./following-sibling::*[1]").text.split(" · ")[0] \
            if theme_box.find_elements(By.XPATH, "./following-sibling::*[1]") else None
        names = {name: label_id for label_id, name in review.labels(settings, "theme")}
        theme = names.get(shown)  # the box shows the theme's full name, the machine's guess beside it
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", theme_box)
        theme_box.click()
        note = browser.find_element(By.CSS_SELECTOR, f"{queue} textarea")
        note.click()
        note.send_keys("a circuits paper")
        note.send_keys("\t")  # the text area syncs its value to the kernel when it loses focus
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()

        def decided():
            return [e for e in review.read_journal(settings) if e["work_id"] == new[0] and e["decision"] == "accept"]

        entries = _wait(lambda: len(decided()) >= 3 and decided(), "the one-pass decision in the journal")
        said = {(e["label_set"], e["label_id"]) for e in entries}
        assert ("scope", "in") in said and ("subsection", placed) in said and any(s == "theme" for s, _ in said)
        if theme:
            assert ("theme", theme) in said
        assert {e["note"] for e in entries} == {"a circuits paper"} and {e["reviewer"] for e in entries} == {"dana"}
        _wait(lambda: "reordered 1 times" in browser.find_element(By.CSS_SELECTOR, queue).text,
              "the queue to reorder after the decision")
        assert "refit on" in browser.find_element(By.CSS_SELECTOR, queue).text  # the next card: ranked by the refit
        # Change the decision from the history: out of scope instead.
        history = browser.find_element(By.CSS_SELECTOR, f"{queue} select[size]")  # the Decided list
        assert Select(history).options[0].text.startswith(f"work {new[0]} {NEW_TITLES[0][:50]}")
        assert ": accept scope in" in Select(history).options[0].text
        Select(history).options[0].click()
        change = browser.find_element(By.XPATH, "//button[normalize-space() = 'Change this decision']")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", change)
        change.click()
        _wait(lambda: browser.find_element(By.CSS_SELECTOR, ".litmine-card-title").text == NEW_TITLES[0],
              "the decided card to come back")
        out = browser.find_element(By.XPATH, "//button[normalize-space() = 'Out of scope (o)']")
        out.click()
        _wait(lambda: [e for e in review.read_journal(settings) if e["decision"] == "reject"],
              "the changed decision in the journal")
    except Exception:
        browser.save_screenshot(str(tmp_path / "failure.png"))
        raise
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT label_set, label_id, assigned, created_by FROM latest_labels WHERE source = 'human' "
                           "AND work_id = ?", [new[0]]).fetchall() == [("scope", "in", False, "dana")]

