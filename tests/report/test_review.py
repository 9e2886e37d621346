"""`reidprune review` end to end in headless Chromium, then `prune --decisions` honouring what was clicked."""
from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import PRUNE, browser_driver, console_errors, invoke, make_pruned, pixel_spread

from reidprune.errors import ReidPruneError
from reidprune.export.manifest import read_manifest
from reidprune.export.seed_lists import read_seed_lists
from reidprune.report.review import ReviewSession


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(out, port):
    server = subprocess.Popen([sys.executable, "-m", "reidprune", "review", str(out), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/decisions", timeout=5)
            return server
        except OSError:
            if server.poll() is not None:
                raise AssertionError(f"review server stopped: {server.stdout.read().decode()}")
            time.sleep(0.3)
    server.kill()
    raise AssertionError("review server did not start within 120 s")


def _stop(server):
    server.terminate()
    server.wait(timeout=30)


def _wait_text(driver, card, text):
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: text in card.find_element("css selector", ".state").text)


@pytest.fixture
def reviewed(tmp_path):
    return make_pruned(tmp_path)


def test_click_restart_and_prune_with_the_decisions(reviewed, tmp_path):
    world, out = reviewed
    manifest = read_manifest(out / "manifest.csv")
    port = _free_port()
    driver = browser_driver()  # skips without Chromium: before the server starts, so none is left behind
    server = _start(out, port)
    try:
        driver.get(f"http://127.0.0.1:{port}/review/relabel")
        cards = driver.find_elements("css selector", ".card")
        assert len(cards) == int((manifest.status == "relabelled").sum())
        relabel = int(cards[0].get_attribute("data-index"))
        cards[0].find_element("css selector", "button.do-accept").click()
        _wait_text(driver, cards[0], "accepted")
        # an identity that does not exist: a clear message on the page, nothing stored
        cards[1].find_element("css selector", "input").send_keys("9999\n")
        error = driver.find_element("id", "error")
        from selenium.webdriver.support.wait import WebDriverWait

        WebDriverWait(driver, 20).until(lambda d: "not a training identity" in error.text)
        driver.get_log("browser")  # the 400 reply of that request is logged; start clean
        driver.get(f"http://127.0.0.1:{port}/review/outlier")
        card = driver.find_elements("css selector", ".card")[0]
        outlier = int(card.get_attribute("data-index"))
        card.find_element("css selector", "button.do-reject").click()
        _wait_text(driver, card, "kept")
        shot = tmp_path / "review.png"
        driver.save_screenshot(str(shot))
        assert console_errors(driver) == []
        assert pixel_spread(shot) > 20

        _stop(server)  # a restart keeps every decision
        server = _start(out, port)
        driver.get(f"http://127.0.0.1:{port}/review/relabel")
        first = driver.find_elements("css selector", ".card")[0]
        _wait_text(driver, first, "accepted")
        assert "accept" in first.get_attribute("class")
    finally:
        driver.quit()
        _stop(server)

    with sqlite3.connect(out / "review.sqlite") as db:
        rows = db.execute("SELECT path, kind, verdict, given_id, proposed_id, identity FROM decisions "
                          "ORDER BY kind").fetchall()
    assert rows == [
        (manifest.path[outlier], "outlier", "reject", int(manifest.original_id[outlier]), None, None),
        (manifest.path[relabel], "relabel", "accept", int(manifest.original_id[relabel]),
         int(manifest.corrected_id[relabel]), None),
    ]

    again, copy = tmp_path / "again", tmp_path / "copy"
    result = invoke("prune", world, "--scores", out / "scores.npz", "--out", again, *PRUNE,
                    "--decisions", out / "review.sqlite", "--materialize", copy)
    assert result.exit_code == 0, result.output
    after = read_manifest(again / "manifest.csv")
    assert after.status[outlier] == "kept" and after.corrected_id[outlier] == manifest.original_id[outlier]
    assert after.status[relabel] == "relabelled" and after.corrected_id[relabel] == manifest.corrected_id[relabel]
    changed = [i for i in range(len(after)) if after.status[i] != manifest.status[i]]
    assert changed == [outlier]
    name = manifest.path[outlier].split("/")[-1]
    assert (copy / "bounding_box_train" / name).is_file()  # the rejected outlier is in the copy
    lists = read_seed_lists(again / "lists")
    before = read_seed_lists(out / "lists")
    assert set(lists["outliers"].tolist()) == set(before["outliers"].tolist()) - {outlier}
    assert relabel in lists["mislabeled"][:, 0].tolist()


def test_decisions_of_another_dataset_are_refused(reviewed, tmp_path):
    world, out = reviewed
    ReviewSession.open(out)  # creates out/review.sqlite for this dataset
    other_world, other_out = make_pruned(tmp_path / "other", train_ids=7, seed=1)
    result = invoke("prune", other_world, "--scores", other_out / "scores.npz", "--out", tmp_path / "x", *PRUNE,
                    "--decisions", out / "review.sqlite")
    assert result.exit_code == 2
    assert "decisions made on another dataset" in result.output
    shutil.copy(out / "review.sqlite", other_out / "review.sqlite")
    with pytest.raises(ReidPruneError, match="another dataset"):
        ReviewSession.open(other_out)
    with pytest.raises(ReidPruneError, match="no selection.json"):
        ReviewSession.open(world)
