"""The HTML report: what it contains (exact values), and that headless Chromium renders it without errors."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import browser_driver, console_errors, invoke, pixel_spread

from reidprune.errors import ReidPruneError
from reidprune.export.manifest import read_manifest
from reidprune.report.html import build_sections, top_identities, write_html_report
from reidprune.scores.store import ScoreSet


@pytest.fixture(scope="module")
def report(pruned):
    world, out = pruned
    result = invoke("report", out, "--data", world, "--per-group", 4)
    assert result.exit_code == 0, result.output
    for name in ("flagged.png", "identities.png", "scores.png"):  # the PNGs are still written
        assert (out / name).is_file()
    return out / "report" / "index.html"


def _page(report, name):
    text = (report.parent / "data" / name).read_text()
    match = re.fullmatch(r'reidprunePage\("(\w+)",(\d+),(.*)\);\n', text, re.DOTALL)
    return json.loads(match.group(3))


def test_sections_hold_every_flagged_image_in_order(pruned, report):
    _, out = pruned
    manifest = read_manifest(out / "manifest.csv")
    outliers = _page(report, "outliers-0.js")
    assert sorted(x["i"] for x in outliers) == np.flatnonzero(manifest.status == "outlier").tolist()
    assert [x["m"] for x in outliers] == sorted(x["m"] for x in outliers)  # least confident first
    relabelled = _page(report, "relabelled-0.js")
    assert sorted(x["i"] for x in relabelled) == np.flatnonzero(manifest.status == "relabelled").tolist()
    for x in relabelled:
        assert x["n"] == manifest.corrected_id[x["i"]] != x["id"]
        assert x["top"][0][0] == x["n"] and len(x["top"]) == 3  # the soft label's argmax is the proposal
        assert x["top"][0][1] >= x["top"][1][1] >= x["top"][2][1]
        assert len(x["ex"]) == 2 and all(manifest.corrected_id[e] == x["n"] for e in x["ex"])
    pruned_items = _page(report, "pruned-0.js")
    assert [x["h"] for x in pruned_items] == sorted(x["h"] for x in pruned_items)
    identities = _page(report, "identities-0.js")
    assert [row["id"] for row in identities] == np.unique(manifest.original_id).tolist()
    shown = {x["i"] for x in outliers + relabelled + pruned_items} | {e for x in relabelled for e in x["ex"]}
    assert {int(p.stem) for p in (report.parent / "thumbs").glob("*.jpg")} >= shown
    html = report.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from the network


def test_top_identities_are_the_soft_labels_largest(pruned):
    _, out = pruned
    scores = ScoreSet.load(out / "scores.npz")
    manifest = read_manifest(out / "manifest.csv")
    ids, probs = top_identities(scores, manifest, k=2)
    logits = scores["entropy"].extras["mean_logits"][0].astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p)[:2]
    assert ids[0].tolist() == scores.classes[order].tolist()
    np.testing.assert_allclose(probs[0], p[order])


def test_sections_page_a_large_set(pruned):
    _, out = pruned
    manifest = read_manifest(out / "manifest.csv")
    sections = build_sections(manifest, None, extremes=3, per_identity=4)
    assert len(sections["pruned"]) == 3 and len(sections["hardest"]) == 3
    assert all(len(row["items"]) == 4 for row in sections["identities"])
    assert all(x["top"] == [] for x in sections["relabelled"])


def test_bad_inputs_are_clear_errors(pruned, tmp_path):
    world, out = pruned
    with pytest.raises(ReidPruneError, match="manifest .* does not exist"):
        write_html_report(tmp_path, world)
    with pytest.raises(ReidPruneError, match="not a folder"):
        write_html_report(out, tmp_path / "nowhere")
    with pytest.raises(ReidPruneError, match="per_page must be a positive integer"):
        write_html_report(out, world, per_page=0)


def test_chromium_renders_the_report_without_console_errors(report, tmp_path):
    driver = browser_driver()
    from selenium.webdriver.support.wait import WebDriverWait

    try:
        driver.get(report.as_uri())
        driver.implicitly_wait(10)
        cards = driver.find_elements("css selector", "#grid-relabelled .relabel")
        assert len(cards) == len(_page(report, "relabelled-0.js"))
        assert driver.find_elements("css selector", "#grid-identities .idrow")
        height = driver.execute_script("return document.body.scrollHeight")
        for y in range(0, height, 500):  # scroll through so the lazy images load
            driver.execute_script(f"window.scrollTo(0, {y})")
        WebDriverWait(driver, 20).until(lambda d: d.execute_script(
            "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length") >= 20)
        broken = driver.execute_script(
            "return Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0).length")
        assert broken == 0
        shot = tmp_path / "report.png"
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(shot))
        assert console_errors(driver) == []
    finally:
        driver.quit()
    assert pixel_spread(shot) > 20  # not a blank page


def test_the_summary_says_when_the_look_alike_probes_judged_the_run():
    from reidprune.report.html import summary_rows

    class Rows:  # the manifest's columns summary_rows reads
        status, original_id = np.array(["kept", "kept", "pruned"]), np.array([1, 1, 2])

        def __len__(self):
            return 3

    manifest = Rows()
    quality = {"probes": 110, "noise_rate": 0.123, "precision": 0.55, "recall": 0.71, "correction": 0.9,
               "relabel_pays": False}
    rows = dict(summary_rows(manifest, {"quality": quality}, None))
    assert rows["estimated quality"].startswith("from 110 probes") and "noise rate 12.3%" in rows["estimated quality"]
    assert "look-alike" not in rows["estimated quality"]
    rows = dict(summary_rows(manifest, {"quality": dict(quality, judged_by="similar")}, None))
    assert rows["estimated quality"].endswith("judged by the look-alike probes alone, since the flags repeat "
                                              "identity pairs")
    why = "no other image is as unlikely under its label as the random-identity probes"
    rows = dict(summary_rows(manifest, {"quality": dict(quality, judged_by="similar", judged_why=why)}, None))
    assert rows["estimated quality"].endswith(f"judged by the look-alike probes alone, since {why}")
    assert "noise rate at most 12.3%, mislabel precision at most 0.55" in rows["estimated quality"]
