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

from test_review import build_review_db

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "review_queue.ipynb"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WAIT = 300  # seconds: a limit for a condition, never a sleep


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
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
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


def test_a_click_in_the_queue_is_journaled_and_becomes_a_human_label(prerequisites, store, settings, monkeypatch,
                                                                    jupyterlab, browser, tmp_path, record_property):
    from click.testing import CliRunner

    from litmine import review
    from litmine.cli import main

    monkeypatch.setenv("LITMINE_EMBED_MODEL", "hashing:64")  # the embedder build_review_db used
    build_review_db(store, settings.seed_dir)
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

    from litmine import review

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

    from litmine import review

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
