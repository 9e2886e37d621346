"""What :func:`reidprune.export.materialize.materialize` wrote, and the README saying so."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MaterializeResult:
    """What :func:`materialize` wrote.

    It stands in for the output path where a path-like is accepted (``os.fspath(result)``,
    ``Path(result)``, ``str(result)`` give the folder); use ``result.path`` for ``/``.

    Attributes
    ----------
    path:
        The output folder.
    layout:
        The layout written, as the loaders name it: ``market1501``, ``veri776``, ``msmt17``
        or ``folders`` (also for layouts without their own file structure, such as
        ``cifar100``), so ``load_dataset(result.path, result.layout)`` reads the copy.
    kept, relabelled, pruned, outlier:
        Training images per status; ``kept + relabelled`` images were written.
    renamed:
        Written training images whose name or identity folder differs from the source
        (corrected identity or ``_dup`` suffix).
    duplicates:
        ``(source path relative to the dataset root, output path)`` of every file that got a
        ``_dupN`` suffix.
    eval_files:
        Evaluation images (query, gallery, test) and side files linked or copied unchanged.
    fallback_copies:
        Files copied because a hard link was impossible (other filesystem, not permitted).
    missing_eval:
        Evaluation folders or list files of the layout that the source dataset does not have.
    eval_not_written:
        Evaluation rows left out because the output layout has no place for them (the
        ``test`` split of cifar / cub written in the folders layout).
    """

    path: Path
    layout: str
    kept: int
    relabelled: int
    pruned: int
    outlier: int
    renamed: int
    duplicates: tuple[tuple[str, str], ...]
    eval_files: int
    fallback_copies: int
    missing_eval: tuple[str, ...] = ()
    eval_not_written: int = 0

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def written(self) -> int:
        """Training images written (kept + relabelled)."""
        return self.kept + self.relabelled


def readme_text(result: MaterializeResult, root: Path, layout: str, link: str, manifest_name: str) -> str:
    """The README.txt of a written copy: source, layout, counts and every ``_dupN`` file.

    Parameters
    ----------
    result:
        What was written.
    root:
        The source dataset root.
    layout:
        The source layout's name.
    link:
        The link mode used.
    manifest_name:
        The manifest file's name in the copy.
    """
    lines = [
        "This folder was written by reidprune (data pruning and label purification for",
        "object re-identification, Yang et al., TMLR 2024).",
        "",
        f"source dataset: {root}",
        f"source layout:  {layout}",
        f"written as:     {result.layout} layout",
        f"files:          {link}" + (f" ({result.fallback_copies} copied instead: hard links "
                                     "were impossible there)" if result.fallback_copies else ""),
        "",
        f"training images written: {result.written} "
        f"({result.kept} kept, {result.relabelled} relabelled)",
        f"training images removed: {result.pruned + result.outlier} "
        f"({result.pruned} pruned as easy, {result.outlier} removed as outliers)",
        f"training images renamed or moved to carry their corrected identity: {result.renamed}",
        f"evaluation and side files linked or copied unchanged: {result.eval_files}",
    ]
    if result.missing_eval:
        lines.append(f"not in the source, so not written: {', '.join(result.missing_eval)}")
    if result.eval_not_written:
        lines.append(f"{result.eval_not_written} test images not written (the folders layout has "
                     "only train/, query/, gallery/); evaluate on the source dataset")
    if result.layout == "msmt17":
        lines.append("list_train.txt lists the written training images with corrected ids; "
                     "list_val.txt is not copied.")
    lines += ["", f"{manifest_name}: one row per SOURCE training image (paths relative to the "
              "source dataset root) with its status (kept, relabelled, pruned, outlier), "
              "original and corrected identity."]
    if result.duplicates:
        lines += ["", "files given a _dupN suffix because another file had the same name:"]
        lines += [f"  {source} -> {written}" for source, written in result.duplicates]
    return "\n".join(lines) + "\n"
