"""The review server and the decisions file against hostile input (issue 25), with Flask's test client."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest
from conftest import invoke, make_pruned

from reidprune.errors import ReidPruneError
from reidprune.export.manifest import read_manifest
from reidprune.report.review import ReviewSession, create_app, is_loopback
from reidprune.select.decisions import read_reviews


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    return make_pruned(tmp_path_factory.mktemp("review"))


@pytest.fixture
def client(pruned):
    _, out = pruned
    session = ReviewSession.open(out)
    return session, create_app(session).test_client()


def _post(client, body, host="127.0.0.1:8765"):
    return client.post("/api/decision", data=json.dumps(body), content_type="application/json",
                       headers={"Host": host})


def _relabel_index(session):
    return session.items("relabel")[0]["index"]


def test_a_relative_data_path_serves_images(pruned, monkeypatch):
    world, out = pruned
    monkeypatch.chdir(world.parent)
    session = ReviewSession.open(out, os.path.relpath(world))
    reply = create_app(session).test_client().get("/image/0", headers={"Host": "127.0.0.1:8765"})
    assert reply.status_code == 200 and reply.data[:2] == b"\xff\xd8"  # a JPEG, not a 500


@pytest.mark.parametrize("index", ["abc", None, [1], 1.9, True, 1e300])
def test_malformed_indices_get_a_400_json_reply(client, index):
    session, app = client
    reply = _post(app, {"index": index, "kind": "relabel", "verdict": "accept"})
    assert reply.status_code == 400 and "index must be a whole number" in reply.get_json()["error"]


def test_an_overflowing_index_and_a_body_that_is_not_json_get_400_json(client):
    _, app = client
    raw = app.post("/api/decision", data='{"index": 1e400, "kind": "relabel", "verdict": "accept"}',
                   content_type="application/json", headers={"Host": "127.0.0.1:8765"})
    assert raw.status_code == 400 and "index" in raw.get_json()["error"]
    broken = app.post("/api/decision", data="{nope", content_type="application/json",
                      headers={"Host": "127.0.0.1:8765"})
    assert broken.status_code == 400 and "JSON object" in broken.get_json()["error"]


@pytest.mark.parametrize("identity", [True, 1.9, "৩", "", [3], None])
def test_typed_identities_must_be_whole_numbers(client, identity):
    session, app = client
    reply = _post(app, {"index": _relabel_index(session), "kind": "relabel", "verdict": "identity",
                        "identity": identity})
    assert reply.status_code == 400 and "identity must be a whole number" in reply.get_json()["error"]


def test_a_good_decision_still_goes_through(client):
    session, app = client
    index = _relabel_index(session)
    reply = _post(app, {"index": index, "kind": "relabel", "verdict": "reject"})
    assert reply.status_code == 200 and reply.get_json()["decision"]["verdict"] == "reject"
    assert _post(app, {"index": index, "kind": "relabel", "verdict": "clear"}).status_code == 200


def test_a_foreign_host_header_is_refused(client):
    _, app = client
    assert app.get("/api/decisions", headers={"Host": "evil.example:8765"}).status_code == 400
    assert app.get("/api/decisions", headers={"Host": "localhost:8765"}).status_code == 200


def test_a_symlink_out_of_the_dataset_is_not_served(tmp_path):
    world, out = make_pruned(tmp_path)
    manifest = read_manifest(out / "manifest.csv")
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not for the page")
    target = world / manifest.path[0]
    target.unlink()
    target.symlink_to(secret)
    session = ReviewSession.open(out)
    reply = create_app(session).test_client().get("/image/0", headers={"Host": "127.0.0.1:8765"})
    assert reply.status_code == 400 and "outside the dataset" in reply.get_json()["error"]


def test_loopback_and_the_warning_for_other_binds(pruned, monkeypatch):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    import reidprune.report.review as review

    lines = []
    monkeypatch.setattr(review.Flask, "run", lambda *a, **k: None)
    review.serve(pruned[1], host="0.0.0.0", echo=lines.append)
    assert lines[0].startswith("warning: --host 0.0.0.0 is not this machine only")


def test_an_empty_decisions_file_is_refused_and_left_as_it_was(tmp_path):
    empty = tmp_path / "review.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(ReidPruneError, match="is empty"):
        read_reviews(empty, "abc")
    assert empty.read_bytes() == b"" and not (tmp_path / "review.sqlite-wal").exists()


def _forge(pruned, tmp_path, row):
    _, out = pruned
    ReviewSession.open(out)  # creates the file with the real schema
    forged = tmp_path / "forged.sqlite"
    forged.write_bytes((out / "review.sqlite").read_bytes())
    with sqlite3.connect(forged) as db:
        db.execute("DROP TABLE decisions")
        db.execute("CREATE TABLE decisions (path, kind, verdict, given_id, proposed_id, identity, decided_at)")
        db.execute("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, 'now')", row)
    return forged


@pytest.mark.parametrize("row, message", [
    (("a.jpg", "steal", "accept", 1, None, None), "kind 'steal'"),
    (("a.jpg", "relabel", "identity", 1, None, "seven"), "typed identity 'seven'"),
    (("a.jpg", "relabel", "accept", "x", None, None), "given identity 'x'"),
])
def test_forged_decisions_are_named_not_tracebacks(pruned, tmp_path, row, message):
    forged = _forge(pruned, tmp_path, row)
    with pytest.raises(ReidPruneError, match=message):
        read_reviews(forged)
    world, out = pruned
    result = invoke("prune", world, "--scores", out / "scores.npz", "--out", tmp_path / "again",
                    "--decisions", forged)
    assert result.exit_code != 0 and "Traceback" not in result.output and message.split()[0] in result.output


def test_report_refuses_a_symlinked_report_folder_and_marks_the_applied_threshold(tmp_path):
    world, out = make_pruned(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "report").symlink_to(elsewhere)
    result = invoke("report", out, "--data", world)
    assert result.exit_code != 0 and "symbolic link" in result.output and "Traceback" not in result.output
    (out / "report").unlink()
    from reidprune.pipeline.report_folder import write_report
    import reidprune.pipeline.report_folder as folder

    marked = []
    original = folder.entropy_histogram
    folder.entropy_histogram = lambda m, png, delta: marked.append(delta) or original(m, png, delta=delta)
    try:
        write_report(out, world)
    finally:
        folder.entropy_histogram = original
    applied = json.loads((out / "selection.json").read_text())["outlier_threshold"]
    assert marked == [applied]


def test_flags_not_relabelled_are_offered_for_review(tmp_path):
    """--relabel none (or auto when relabelling does not pay): the flagged images keep their label and the
    review page lists them with the proposed identity, so a reviewer can still accept them."""
    from conftest import PRUNE

    world, out = make_pruned(tmp_path)
    kept_out = tmp_path / "unrelabelled"
    result = invoke("prune", world, "--scores", out / "scores.npz", "--out", kept_out, *PRUNE, "--relabel", "none")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(kept_out / "manifest.csv")
    assert not (manifest.status == "relabelled").any()
    relabelled = read_manifest(out / "manifest.csv")
    expected = {int(i): int(relabelled.corrected_id[i]) for i in range(len(relabelled))
                if relabelled.status[i] == "relabelled"}
    offered = {item["index"]: item["proposed"] for item in ReviewSession.open(kept_out).items("relabel")}
    assert offered == expected and offered
