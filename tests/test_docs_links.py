"""Every relative link of the README and docs/ points at a file that exists (the README links to
what moved out of it, so nothing may dangle)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document):
    text = document.read_text()
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (document.parent / target.split("#")[0]).resolve()
        if not path.exists():
            missing.append(target)
    assert not missing, f"{document.relative_to(ROOT)} links to missing files: {missing}"


def test_the_readme_stays_a_guide():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 350
