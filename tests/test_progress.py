"""Progress output: a bar on a terminal, one line per phase when stderr is redirected, nothing with --quiet."""
import io
import re

import numpy as np
import torch

from reidprune.data.table import make_table
from reidprune.progress import LineProgress, progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_terminal_gets_a_tqdm_bar_and_a_log_gets_lines():
    from tqdm.auto import tqdm

    bar = progress(range(3), desc="x", stream=FakeTerminal())
    assert isinstance(bar, tqdm)
    bar.close()
    assert isinstance(progress(range(3), desc="x", stream=io.StringIO()), LineProgress)


def test_line_progress_writes_one_summary_line_per_phase():
    log = io.StringIO()
    assert list(progress(range(5), desc="predict", unit="batch", stream=log)) == [0, 1, 2, 3, 4]
    with progress(desc="epoch 1/2", total=4, stream=log) as bar:
        for _ in range(4):
            bar.update(1)
        bar.set_postfix(loss=4.2123456)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in log.getvalue()
    assert re.fullmatch(r"predict: 5 batch, \d+\.\d s", lines[0])
    assert re.fullmatch(r"epoch 1/2: 4 it, loss=4\.212, \d+\.\d s", lines[1])


def test_long_phase_prints_interim_lines_and_quiet_prints_nothing():
    log = io.StringIO()
    bar = progress(desc="decoding images", total=3, unit="img", interval=0.0, stream=log)
    for _ in range(3):
        bar.update(1)
    bar.close()
    bar.close()  # closing twice writes once
    lines = log.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "decoding images: 1/3 img", "decoding images: 2/3 img", "decoding images: 3/3 img", "decoding images: 3 img"]
    quiet = io.StringIO()
    list(progress(range(3), desc="x", enabled=False, interval=0.0, stream=quiet))
    assert quiet.getvalue() == ""


def test_failed_phase_prints_no_summary():
    log = io.StringIO()
    try:
        with progress(desc="epoch 1/1", total=2, stream=log) as bar:
            bar.update(1)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert log.getvalue() == ""


def test_training_with_redirected_stderr_logs_one_line_per_epoch(capsys):
    from reidprune.models.reid import build_model
    from reidprune.train.config import cpu_quick_config
    from reidprune.train.loop import fit

    torch.manual_seed(0)
    labels = np.repeat(np.arange(4), 8)
    images = torch.randint(0, 256, (len(labels), 3, 64, 32), dtype=torch.uint8)
    config = cpu_quick_config(epochs=3, batch_size=8, instances=2, device="cpu")
    fit(build_model("small", 4), images, labels, config, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines, 1):
        assert re.fullmatch(rf"epoch {epoch}/3: 4 it, loss=[0-9.e+-]+, \d+\.\d s", line), line


def test_image_decoding_logs_one_line(tmp_path, capsys):
    from PIL import Image

    from reidprune.data.images import load_images

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i:04d}_c1s1_000000_00.jpg")
        Image.new("RGB", (16, 32), (i * 40, 0, 0)).save(paths[-1])
    table = make_table(tmp_path, "market1501", [str(p) for p in paths], [0, 1, 2], [1, 1, 1], ["train"] * 3)
    load_images(table, size=(8, 4), progress=True)
    assert re.fullmatch(r"decoding images: 3 img, \d+\.\d s\n", capsys.readouterr().err)
    load_images(table, size=(8, 4), progress=False)
    assert capsys.readouterr().err == ""
