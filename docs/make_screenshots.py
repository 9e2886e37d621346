"""Make the README's screenshots of the HTML report and the review page (synthetic people only).

    PYTHONPATH=src python docs/make_screenshots.py

A `reidprune synth` world is scored with soft labels built from its ground truth (the tests'
``hand_scores``: no training, seconds), pruned, reported and reviewed in headless Chromium; the
screenshots are written as small palette PNGs to docs/img/.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "report"))

from conftest import browser_driver, invoke, make_pruned  # noqa: E402
from test_review import _free_port, _start, _stop  # noqa: E402


def _save_small(png: Path, dest: Path, width: int = 900) -> None:
    with Image.open(png) as image:
        image = image.convert("RGB")
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        image.quantize(colors=96).save(dest, optimize=True)


def main() -> None:
    out_dir = HERE / "img"
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        world, out = make_pruned(Path(tmp), train_ids=10, images_per_id=8)
        assert invoke("report", out, "--data", world).exit_code == 0
        driver = browser_driver()
        port = _free_port()
        server = _start(out, port)
        try:
            driver.set_window_size(1100, 1400)
            driver.get((out / "report" / "index.html").as_uri())
            driver.implicitly_wait(5)
            driver.find_elements("css selector", "#grid-relabelled .relabel")
            driver.execute_script("document.getElementById('summary').scrollIntoView()")
            driver.save_screenshot(f"{tmp}/report.png")
            _save_small(Path(f"{tmp}/report.png"), out_dir / "report.png")
            driver.set_window_size(1100, 700)
            driver.get(f"http://127.0.0.1:{port}/review/relabel")
            cards = driver.find_elements("css selector", ".card")
            cards[0].find_element("css selector", "button.do-accept").click()
            cards[1].find_element("css selector", "button.do-reject").click()
            cards[2].find_element("css selector", "input").send_keys("3\n")
            driver.find_element("css selector", "body").click()
            import time

            time.sleep(1.0)
            driver.save_screenshot(f"{tmp}/review.png")
            _save_small(Path(f"{tmp}/review.png"), out_dir / "review.png")
        finally:
            driver.quit()
            _stop(server)
    print(f"wrote {out_dir / 'report.png'} and {out_dir / 'review.png'}")


if __name__ == "__main__":
    main()
