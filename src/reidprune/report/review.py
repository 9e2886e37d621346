"""``reidprune review OUT``: a local web page to accept or reject what selection flagged.

The page shows the proposed relabels and the outliers of a ``reidprune prune`` output as pages
of thumbnails. Per image the reviewer accepts, rejects or types another identity (keyboard:
``a`` accept, ``r`` reject, ``i`` type an identity, ``u`` undo, ``j``/``k`` or arrows to move,
``n``/``p`` next / previous page). Every decision is committed at once to ``OUT/review.sqlite``
(see :mod:`reidprune.select.decisions`), which ``reidprune prune ... --decisions`` applies.

Images that already have a decision stay on the page even after ``prune --decisions`` rewrote
``OUT/manifest.csv`` (a rejected outlier is then ``kept``), so a review can be resumed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import Flask, abort, jsonify, redirect, render_template, request, send_file, url_for

from reidprune.errors import ReidPruneError
from reidprune.export.manifest import Manifest, read_manifest
from reidprune.export.seed_lists import read_seed_lists
from reidprune.report.common import assigned_ids, image_path
from reidprune.report.html import typical_images
from reidprune.select import decisions as store
from reidprune.select.selection import KEPT, OUTLIER, RELABELLED

#: Thumbnails per page.
PER_PAGE = 40
KIND_TITLES = {"relabel": "Proposed relabels", "outlier": "Outliers"}


@dataclass
class ReviewSession:
    """What the page serves: a prune output, its dataset and its decisions file."""

    out: Path
    root: Path
    manifest: Manifest
    given: np.ndarray  # identity each image has in the dataset
    classes: np.ndarray  # training identities
    fingerprint: str
    database: Path

    @classmethod
    def open(cls, out: str | os.PathLike, data_root: str | os.PathLike | None = None) -> "ReviewSession":
        """Open ``out`` (a prune output folder) for review; creates ``out/review.sqlite``.

        Parameters
        ----------
        out:
            The ``reidprune prune`` output folder (``manifest.csv`` and ``selection.json``).
        data_root:
            The dataset folder; default the one recorded in ``selection.json``.

        Raises
        ------
        ReidPruneError
            When ``out`` is not a prune output, the dataset folder is missing, or
            ``out/review.sqlite`` holds decisions made on another dataset.
        """
        out = Path(out)
        summary_path = out / "selection.json"
        if not summary_path.is_file():
            raise ReidPruneError(f"{out} has no selection.json; give a `reidprune prune` output folder")
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        # resolved: Flask's send_file reads a relative path under the package folder
        root = Path(data_root or summary.get("dataset", "")).expanduser().resolve()
        if not root.is_dir():
            raise ReidPruneError(f"dataset folder {root} does not exist; pass --data with the dataset "
                                 f"{out} was made from")
        manifest = read_manifest(out / "manifest.csv")
        fingerprint = str(summary.get("fingerprint", ""))
        database = store.open_store(out / store.FILE_NAME, fingerprint, str(root))
        return cls(out, root, manifest, assigned_ids(manifest), np.unique(manifest.original_id), fingerprint,
                   database)

    def decided(self) -> dict[str, dict]:
        """Image path -> its stored decision (``kind``, ``verdict``, ``identity``, ``proposed``)."""
        reviews = store.read_reviews(self.database, self.fingerprint)
        return {p: {"kind": k, "verdict": v, "identity": None if t < 0 else int(t),
                    "proposed": None if n < 0 else int(n)}
                for p, k, v, t, n in zip(reviews.path.tolist(), reviews.kind.tolist(), reviews.verdict.tolist(),
                                         reviews.identity.tolist(), reviews.proposed_id.tolist())}

    def items(self, kind: str) -> list[dict]:
        """The images of one kind to review: flagged now, or decided earlier as that kind."""
        decided = self.decided()
        status = OUTLIER if kind == "outlier" else RELABELLED
        rows = np.flatnonzero(self.manifest.status == status).tolist()
        flagged_only = self.flagged_not_relabelled() if kind == "relabel" else {}
        rows += list(flagged_only)
        rows += [i for i, p in enumerate(self.manifest.path.tolist())
                 if p in decided and decided[p]["kind"] == kind and self.manifest.status[i] != status]
        examples = typical_images(self.manifest)
        out = []
        for i in sorted(set(rows)):
            path = str(self.manifest.path[i])
            proposed = None
            if kind == "relabel":
                earlier = decided.get(path, {}).get("proposed")
                proposed = earlier if earlier is not None else flagged_only.get(i, int(self.manifest.corrected_id[i]))
            score = self.manifest.max_score[i]
            out.append({"index": i, "path": path, "given": int(self.given[i]), "proposed": proposed,
                        "max": None if np.isnan(score) else round(float(score), 2),
                        "examples": [int(e) for e in examples.get(proposed, [])] if proposed is not None else [],
                        "decision": decided.get(path)})
        return out

    def flagged_not_relabelled(self) -> dict[int, int]:
        """Rows flagged as mislabeled but kept with their label (``--relabel auto`` when relabelling does
        not pay, or ``--relabel none``) -> the proposed identity, from ``lists/``'s mislabeled list."""
        lists = self.out / "lists"
        if not (lists / "Mislabeled_outlier_samples.pickle").is_file():
            return {}
        try:
            flagged = read_seed_lists(lists)["mislabeled"]
        except ReidPruneError:
            return {}
        return {int(i): int(pid) for i, pid in flagged.tolist()  # pruned ones need no decision
                if i < len(self.manifest) and self.manifest.status[i] == KEPT and int(pid) != int(self.given[i])}

    def decide(self, index: int, kind: str, verdict: str, identity: int | None = None) -> dict:
        """Store one decision (``verdict`` ``clear`` removes it); returns the image's item."""
        if not 0 <= index < len(self.manifest):
            raise ReidPruneError(f"image index {index} is not in the manifest (0..{len(self.manifest) - 1})")
        item = next((x for x in self.items(kind) if x["index"] == index), None)
        if item is None:
            raise ReidPruneError(f"image {self.manifest.path[index]} is not a flagged {kind}")
        if verdict == "clear":
            store.forget(self.database, item["path"])
        else:
            if verdict == "identity":
                identity = _parse_identity(identity)
                if identity not in set(self.classes.tolist()):
                    raise ReidPruneError(f"identity {identity} is not a training identity of this dataset "
                                         f"({len(self.classes)} identities, {self.classes.min()}.."
                                         f"{self.classes.max()})")
            else:
                identity = None
            store.record(self.database, item["path"], kind, verdict, item["given"], item["proposed"], identity)
        return next(x for x in self.items(kind) if x["index"] == index)

    def image_file(self, index: int) -> Path:
        """The image's file, refused unless its resolved path lies inside the dataset folder
        (a symbolic link in the dataset may point anywhere on this machine)."""
        if not 0 <= index < len(self.manifest):
            raise ReidPruneError(f"image index {index} is not in the manifest")
        path = Path(image_path(self.manifest, self.root, index)).resolve()
        if not path.is_relative_to(self.root):
            raise ReidPruneError(f"image {self.manifest.path[index]} resolves to {path}, outside the dataset "
                                 f"{self.root}: not served")
        return path


def _parse_identity(value) -> int:
    """A whole number given as a JSON integer or a string of ASCII digits (not ``true``, ``1.9`` or ``৩``)."""
    if isinstance(value, bool):
        raise ReidPruneError(f"identity must be a whole number, got {json.dumps(value)}")
    if isinstance(value, int):
        return value
    text = value.strip() if isinstance(value, str) else None
    if text and text.lstrip("-").isascii() and text.lstrip("-").isdigit():
        return int(text)
    raise ReidPruneError(f"identity must be a whole number, got {json.dumps(value)}")


def _parse_index(value) -> int:
    """A JSON integer (``true``, ``1.9``, ``"1"``, ``null``, ``[1]`` and ``1e400`` are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReidPruneError(f"index must be a whole number (a JSON integer), got {json.dumps(value)[:40]}")
    return value


def trusted_hosts(host: str, port: int) -> list[str]:
    """The ``Host`` headers the page answers (DNS rebinding: a foreign name pointing at this machine
    must not reach the decisions)."""
    names = {"127.0.0.1", "localhost", "[::1]", host if ":" not in host else f"[{host}]"}
    return sorted(names | {f"{n}:{port}" for n in names})


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(session: ReviewSession, host: str = "127.0.0.1", port: int = 8765) -> Flask:
    """The Flask application serving one :class:`ReviewSession` at ``host:port`` (its trusted hosts)."""
    app = Flask(__name__, template_folder="templates")
    app.config["TRUSTED_HOSTS"] = trusted_hosts(host, port)

    @app.errorhandler(ReidPruneError)
    def bad_request(exc):
        return jsonify({"error": str(exc)}), 400

    @app.errorhandler(400)
    def malformed(exc):  # a body that is not JSON, a bad Host header: JSON the page can show
        return jsonify({"error": getattr(exc, "description", None) or "bad request"}), 400

    @app.get("/")
    def home():
        return redirect(url_for("page", kind="relabel"))

    @app.get("/review/<kind>")
    def page(kind: str):
        if kind not in KIND_TITLES:
            abort(404)
        items = session.items(kind)
        pages = max(1, -(-len(items) // PER_PAGE))
        number = min(max(request.args.get("page", 1, type=int), 1), pages)
        shown = items[(number - 1) * PER_PAGE:number * PER_PAGE]
        counts = {k: len(session.items(k)) for k in KIND_TITLES}
        decided = sum(1 for x in items if x["decision"])
        return render_template("review.html", kind=kind, titles=KIND_TITLES, items=shown, page=number,
                               pages=pages, counts=counts, decided=decided, total=len(items),
                               database=str(session.database))

    @app.get("/image/<int:index>")
    def image(index: int):
        return send_file(session.image_file(index), max_age=3600)

    @app.post("/api/decision")
    def decision():
        # JSON only: a cross-site form post cannot send it without a preflight
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ReidPruneError("send a JSON object {index, kind, verdict, identity}")
        verdict = body.get("verdict")
        if verdict not in (*store.VERDICTS, "clear"):
            raise ReidPruneError(f"verdict must be accept, reject, identity or clear, got {verdict!r}")
        kind = body.get("kind")
        if kind not in KIND_TITLES:
            raise ReidPruneError(f"kind must be relabel or outlier, got {kind!r}")
        return jsonify(session.decide(_parse_index(body.get("index")), kind, verdict, body.get("identity")))

    @app.get("/api/decisions")
    def decisions():
        return jsonify(session.decided())

    return app


def serve(out: str | os.PathLike, host: str = "127.0.0.1", port: int = 8765,
          data_root: str | os.PathLike | None = None, echo=print) -> None:
    """Open ``out`` for review and serve the page until interrupted (Ctrl+C).

    Parameters
    ----------
    out:
        The ``reidprune prune`` output folder.
    host, port:
        Where to listen; the default host is reachable from this machine only.
    data_root:
        The dataset folder; default the one recorded in ``out/selection.json``.
    echo:
        Where to print the address.
    """
    session = ReviewSession.open(out, data_root)
    if not is_loopback(host):
        echo(f"warning: --host {host} is not this machine only: anyone who can reach {host}:{port} can see the "
             "dataset's flagged images and change the decisions (there is no login); use 127.0.0.1 unless you "
             "mean it")
    counts = {k: len(session.items(k)) for k in KIND_TITLES}
    echo(f"reviewing {counts['relabel']} proposed relabels and {counts['outlier']} outliers of {session.out}; "
         f"decisions go to {session.database}")
    echo(f"open http://{host}:{port}/ (Ctrl+C to stop)")
    create_app(session, host, port).run(host=host, port=port, threaded=True, debug=False, use_reloader=False)
