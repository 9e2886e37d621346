"""Known-noise probes: the estimates on hand-made soft labels, the probe draw, the stop."""
import numpy as np
import pytest
import torch

from reidprune.data.noise import choose_probes, inject_pairwise_noise, nearest_classes, probe_count
from reidprune.dynamics.probe_stop import ProbeMonitor
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.errors import ReidPruneError
from reidprune.select.calibration import (estimate, f1_score, noise_rate_bound, precision_estimate, probe_delta,
                                          relabel_pays)


def test_noise_rate_bound_by_hand():
    # 10 probes: given-label probability 0.0 .. 0.9; sets must hold at least 2 of them
    probes = np.linspace(0.0, 0.9, 10)
    # 100 other samples: 20 wrong (s = 0.05) and 80 clean (s = 0.95)
    mixed = np.r_[np.full(20, 0.05), np.full(80, 0.95)]
    # t = 0.1 (2 probes, 0.2 of them): P_mix = 0.20 -> 1.0; t = 0.9 (all probes): 0.2 / 1.0 -> the smallest
    assert noise_rate_bound(mixed, probes, set_probes=2) == pytest.approx(0.2)
    # clean samples with s = 0.3 fall in the larger sets: t = 0.2 .. 0.9 give 0.2/0.3 at best
    assert noise_rate_bound(np.r_[np.full(20, 0.05), np.full(80, 0.3)], probes, set_probes=2) == \
        pytest.approx(0.2 / 0.3)
    # fewer probes than set_probes: the one set holding all of them
    assert noise_rate_bound(mixed, probes, set_probes=50) == pytest.approx(0.2)
    assert noise_rate_bound(mixed, np.array([])) == 1.0


def test_precision_f1_and_the_relabel_rule_by_hand():
    assert precision_estimate(0.2, 1000, 0.9, 200) == pytest.approx(0.9)  # 180 wrong found among 200 flags
    assert precision_estimate(0.2, 1000, 0.9, 100) == 1.0  # clipped
    assert precision_estimate(0.2, 1000, 0.9, 0) == 1.0
    assert f1_score(0.5, 1.0) == pytest.approx(2 / 3) and f1_score(0.0, 0.0) == 0.0
    assert relabel_pays(0.9, 0.9)  # gain 0.81 - 0.1 > 0
    assert not relabel_pays(0.6, 0.5)  # 0.30 < 0.40: more broken than fixed
    with pytest.raises(ReidPruneError):
        relabel_pays(1.5, 0.5)


def test_probe_delta_needs_a_hundred_probes():
    scores = np.linspace(0.2, 0.9, 200)
    assert probe_delta(scores) == pytest.approx(np.quantile(scores, 0.01, method="lower"))
    assert probe_delta(scores[:99]) == 0.0  # cannot place a 1% quantile: no outliers
    assert probe_delta(scores[:100]) == pytest.approx(0.2)


def test_estimate_on_hand_made_soft_labels():
    # 3 classes; samples 0-3 probes (trained with a wrong label), 4-13 others
    true = np.array([0, 1, 2, 0] + [0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    trained = true.copy()
    trained[:4] = [1, 2, 0, 2]
    probes = np.zeros(14, bool)
    probes[:4] = True
    soft = np.full((14, 3), 0.05)
    soft[np.arange(14), true] = 0.9  # the model predicts the true class...
    soft[3] = [0.05, 0.05, 0.9]  # ...except probe 3: memorised (argmax = its wrong label 2)
    soft[4] = [0.05, 0.9, 0.05]  # and sample 4, given 0, looks like class 1 (flagged)
    found = estimate(soft, trained, true, probes)
    assert found.probes == 4 and found.recall == pytest.approx(0.75) and found.correction == 1.0
    assert found.flagged == 1
    # s of the probes: 0.05, 0.05, 0.05, 0.9; of the others: 0.05 (sample 4) and 0.9 x 9. With 4
    # probes every set holds all of them (t = 0.9): P_mix = 1, P_probe = 1 -> the bound is 1.0
    assert found.noise_rate == pytest.approx(1.0)
    assert found.precision == 1.0  # 1.0 x 10 x 0.75 / 1, clipped


def test_probes_one_per_class_half_of_them_similar():
    labels = np.repeat(np.arange(10), 5)
    nearest = (np.arange(10) + 3) % 10
    mask, trained, similar = choose_probes(labels, 10, 6, seed=1, nearest=nearest)
    assert mask.sum() == 6 and len(np.unique(labels[mask])) == 6
    assert (trained[mask] != labels[mask]).all() and (trained[~mask] == labels[~mask]).all()
    assert similar.sum() == 3 and (similar <= mask).all() and (trained[similar] == nearest[labels[similar]]).all()
    again = choose_probes(labels, 10, 6, seed=1, nearest=nearest)
    assert np.array_equal(again[0], mask) and np.array_equal(again[1], trained)
    assert not choose_probes(labels, 10, 6, seed=1)[2].any()  # no similar classes known: all random
    with pytest.raises(ReidPruneError):
        choose_probes(labels, 10, 11, seed=0)
    assert probe_count(labels) == 5  # 5% of 50 is 2.5; up to 10% (5) to come closer to 30
    assert probe_count(np.repeat(np.arange(40), 10)[:394]) == 30  # 5% = 20, raised to 30 (7.6% of 394)
    assert probe_count(np.repeat(np.arange(100), 20)) == 100  # 5% of 2000
    assert probe_count(np.repeat(np.arange(1000), 20)) == 400  # capped
    assert probe_count(np.repeat(np.arange(30), 100)) == 30  # one per class


def test_nearest_classes_and_pairwise_noise_by_hand():
    # class 0 and 2 point the same way, class 1 elsewhere
    emb = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0], [0.9, 0.1], [1.0, 0.05]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    near = nearest_classes(emb, labels, 3)
    assert near[0] == 2 and near[2] == 0 and near[1] in (0, 2)
    noisy, flipped = inject_pairwise_noise(labels, 0.5, near, seed=0)
    assert flipped.sum() == 3 and (noisy[flipped] == near[labels[flipped]]).all()


def _feed(recorder, logits):
    recorder.update(torch.arange(len(logits)), torch.as_tensor(logits, dtype=torch.float32))
    recorder.end_epoch()


def test_probe_monitor_stops_past_the_best_window_and_rolls_back():
    """Epoch 1 finds the probes, epochs 2-4 memorise them: the window ends at 1, the run at 3."""
    true = np.repeat(np.arange(4), 10)
    probes = np.zeros(40, bool)
    probes[[0, 10, 20, 30]] = True
    trained = true.copy()
    trained[probes] = (true[probes] + 1) % 4
    found = np.full((40, 4), -4.0)
    found[np.arange(40), true] = 4.0  # everything predicted as its true class
    memorised = np.full((40, 4), -4.0)
    memorised[np.arange(40), trained] = 40.0  # the model fits the trained labels, strongly
    recorder = LogitRecorder(40, 4)
    monitor = ProbeMonitor(recorder, trained, true, probes, patience=2)
    for epoch, logits in enumerate((found, memorised, memorised, memorised), start=1):
        _feed(recorder, logits)
        monitor.on_epoch_end(epoch)
        if monitor.should_stop:
            break
    assert monitor.stop_epoch == 3 and epoch == 3
    best = monitor.finish()
    assert best.epoch == 1 and best.recall == 1.0 and best.correction == 1.0
    assert torch.equal(recorder.mean_logits(), torch.as_tensor(found, dtype=torch.float32))
    assert recorder.window.stop == 1
    state = monitor.state_dict()
    again = ProbeMonitor(LogitRecorder(40, 4), trained, true, probes)
    again.load_state_dict(state)
    assert again.stop_epoch == 3 and again.best().epoch == 1


def test_the_verdict_proposes_with_every_epoch_and_reports_recall_by_kind_of_probe():
    """Same run as above, with probe 10 given a look-alike label: the window is epoch 1, the run
    ended at 3 of a cap of 5; both probes found, each kind's recall 1."""
    true = np.repeat(np.arange(4), 10)
    probes = np.zeros(40, bool)
    probes[[0, 10, 20, 30]] = True
    similar = np.zeros(40, bool)
    similar[10] = True
    trained = true.copy()
    trained[probes] = (true[probes] + 1) % 4
    found = np.full((40, 4), -4.0)
    found[np.arange(40), true] = 4.0
    memorised = np.full((40, 4), -4.0)
    memorised[np.arange(40), trained] = 40.0
    recorder = LogitRecorder(40, 4)
    monitor = ProbeMonitor(recorder, trained, true, probes, patience=2, similar=similar)
    for epoch, logits in enumerate((found, memorised, memorised), start=1):
        _feed(recorder, logits)
        monitor.on_epoch_end(epoch)
    best = monitor.finish()
    soft = recorder.soft_labels().numpy()
    predicted, extras, params = monitor.verdict(best, soft.max(1), soft.argmax(1), cap=5, epochs=3)
    assert np.array_equal(predicted, true)  # flagged probes: their true class; the rest: their label
    assert np.array_equal(extras["probe_label"][probes], trained[probes])
    assert (extras["probe_label"][~probes] == -1).all()
    assert (params["stopped_at"], params["epochs_saved"], params["cap"]) == (1, 2, 5)
    assert params["stop_reason"] == "calibrated on 4 probes: best estimated F1 with epochs 1-1 (run ended at epoch 3)"
    assert (params["calibration"]["recall_random"], params["calibration"]["recall_similar"]) == (1.0, 1.0)
    assert len(params["calibration"]["history"]) == 3


def test_too_few_probes_is_an_error_that_names_the_ways_out():
    from reidprune.dynamics.probe_stop import plan_probes, probes_wanted

    labels = np.repeat(np.arange(20), 3)  # 60 images: 10% = 6 probes < 30
    with pytest.raises(ReidPruneError, match="60 images of 20 identities give 6 probes.*--stop auto"):
        probes_wanted(labels, 20, 0.05)
    labels = np.repeat(np.arange(100), 10)
    count = probes_wanted(labels, 100, 0.05)
    mask, trained, similar = plan_probes(labels, 100, count, seed=0)
    assert count == 50 and mask.sum() == 50 and not similar.any()
    assert (trained[mask] != labels[mask]).all() and (trained[~mask] == labels[~mask]).all()


def test_relabelling_needs_a_hundred_probes_of_support():
    assert relabel_pays(0.95, 0.95, probes=100) and not relabel_pays(0.95, 0.95, probes=99)


def test_proposals_use_every_epoch_trained_but_never_the_given_label():
    """Sample 0 (given class 2, truly 1) is flagged in epoch 1 with argmax 0; epochs 2-3 learn it is
    class 1 while memorising its given label 2: the proposal is 1, not 0 (the window's) nor 2."""
    true = np.repeat(np.arange(3), 10)
    trained = true.copy()
    probes = np.zeros(30, bool)
    probes[[10, 20]] = True
    trained[10], trained[20] = 2, 0
    trained[0] = 2  # a real wrong label among the others
    first = np.full((30, 3), -5.0)
    first[np.arange(30), true] = 5.0
    first[0] = [5.0, 0.0, -5.0]
    later = np.full((30, 3), -5.0)
    later[np.arange(30), trained] = 30.0  # memorised
    later[0] = [-20.0, 25.0, 30.0]
    later[10], later[20] = [-20.0, 25.0, 30.0], [30.0, -20.0, 25.0]
    recorder = LogitRecorder(30, 3)
    monitor = ProbeMonitor(recorder, trained, true, probes, patience=2)
    for epoch, logits in enumerate((first, later, later), start=1):
        _feed(recorder, logits)
        monitor.on_epoch_end(epoch)
    best = monitor.finish()
    assert best.epoch == 1 and monitor.proposed[0] == 1
    assert best.correction == pytest.approx(1.0)  # both probes' proposals are their true class


def test_separation_compares_the_probes_flag_rate_with_the_others():
    from reidprune.select.calibration import separates

    # 3 classes, 40 samples; 4 probes all found; the others: 2 of 36 flagged -> gap 0.94 over a tiny SE
    true = np.repeat(np.arange(4), 10)
    probes = np.zeros(40, bool)
    probes[[0, 10, 20, 30]] = True
    trained = true.copy()
    trained[probes] = (true[probes] + 1) % 4
    soft = np.full((40, 4), 0.02)
    soft[np.arange(40), true] = 0.94
    soft[[1, 2]] = [0.02, 0.94, 0.02, 0.02]  # two others flagged
    found = estimate(soft, trained, true, probes)
    assert found.recall == 1.0 and found.flagged == 2
    se = np.sqrt((2 / 36) * (34 / 36) / 4)
    assert found.separation == pytest.approx((1.0 - 2 / 36) / se) and separates(found.separation)
    # everything flagged alike: no separation
    alike = np.tile([0.26, 0.25, 0.25, 0.24], (40, 1))
    alike[:10] = [0.24, 0.27, 0.25, 0.24]  # class-0 samples look like class 1: every image is flagged
    assert not separates(estimate(alike, trained, true, probes).separation)


def test_on_clean_data_the_window_that_flags_fewest_per_probe_found_wins():
    """No real wrong labels: the noise-rate bound is 0 and every window's F1 estimate is 0. Epoch 1
    is flat (half the clean images flagged, every probe found), epoch 2 fits the clean images (none
    flagged) and two of the four probes, epoch 3 memorises the rest: recall per flag is 4/18 for the
    first window and 2/1 for the second, so the window must end at 2, not at 1."""
    true = np.repeat(np.arange(4), 10)
    probes = np.zeros(40, bool)
    probes[[0, 10, 20, 30]] = True
    trained = true.copy()
    trained[probes] = (true[probes] + 1) % 4
    flat = np.zeros((40, 4))
    flat[np.arange(40), true] = 1.0
    flat[np.arange(40)[~probes][::2], (true[~probes][::2] + 2) % 4] = 2.0  # half the others look wrong
    fitted = np.full((40, 4), -8.0)
    fitted[np.arange(40), true] = 8.0
    fitted[[0, 10], trained[[0, 10]]] = 30.0
    memorised = np.full((40, 4), -8.0)
    memorised[np.arange(40), trained] = 80.0
    recorder = LogitRecorder(40, 4)
    monitor = ProbeMonitor(recorder, trained, true, probes, patience=2)
    for epoch, logits in enumerate((flat, fitted, memorised, memorised), start=1):
        _feed(recorder, logits)
        monitor.on_epoch_end(epoch)
        if monitor.should_stop:
            break
    assert monitor.noise_rate == 0.0
    assert [e.f1 for e in monitor.judged()] == [0.0] * len(monitor.judged())
    assert [e.flagged for e in monitor.history[:2]] == [18, 0]
    best = monitor.finish()
    assert best.epoch == 2 and best.recall == 0.5 and best.flagged == 0


def test_repeated_pairs_tell_structured_errors_from_random_ones():
    """Three flagged images labelled 0 proposing 1 (a pattern), two spread ones: 3 of 5 repeat."""
    from reidprune.select.calibration import repeated_pair_share

    labels = np.array([0, 0, 0, 2, 3, 1, 1])
    proposed = np.array([1, 1, 1, 0, 1, 1, 1])
    flagged = labels != proposed
    assert repeated_pair_share(labels, proposed, flagged) == (0.6, 3)
    assert repeated_pair_share(labels, proposed, flagged, repeats=4) == (0.0, 0)
    assert repeated_pair_share(labels, proposed, np.zeros(7, bool)) == (0.0, 0)


def test_purify_warns_when_most_flags_repeat_a_pair_and_holds_back_without_separation():
    from reidprune.select.purify import NO_SEPARATION, purify

    n = 60
    labels = np.repeat(np.arange(3), 20)
    predicted = labels.copy()
    predicted[:25] = np.where(labels[:25] == 0, 1, 2)  # 20 of class 0 -> 1, 5 of class 1 -> 2
    max_score = np.full(n, 0.9)
    max_score[59] = 0.01
    quality = {"probes": 30, "recall": 0.9, "flagged": 25, "separation": 5.0, "separation_similar": 5.0,
               "relabel_pays": True, "noise_rate": 0.4, "precision": 0.9, "correction": 0.9, "delta": 0.05}
    done = purify(predicted, max_score, labels, 0.05, quality=quality)
    assert done.mislabeled.sum() == 25 and done.outliers.sum() == 1 and done.relabel
    assert len(done.warnings) == 1 and done.warnings[0].startswith("100% of the flagged images fall in repeated")
    assert "likely lower than estimated" in done.warnings[0] and "at most" in done.notes[0]
    no_similar = purify(predicted, max_score, labels, 0.05, quality=dict(quality, recall_similar=None))
    assert "recall)" in no_similar.notes[0]  # a run without look-alike probes: no per-kind recall
    alike = purify(predicted, max_score, labels, 0.05, quality=dict(quality, judged_by="similar"))
    assert "come from the look-alike probes alone" in alike.warnings[0]
    assert "from the look-alike probes alone: the flags repeat identity pairs" in alike.notes[0]
    why = "no other image is as unlikely under its label as the random-identity probes"
    unlike = purify(predicted, max_score, labels, 0.05, quality=dict(quality, judged_by="similar", judged_why=why))
    assert f"from the look-alike probes alone: {why}" in unlike.notes[0]
    assert "noise rate at most 40.0%" in unlike.notes[0] and "at most 90% are wrong" in unlike.notes[0]
    assert "noise rate ~40.0%" in alike.notes[0] and "~90% are wrong" in alike.notes[0]
    bound_only = purify(predicted, max_score, labels, 0.05, quality=dict(
        quality, judged_by="similar", judged_why=why, relabel_pays=False, noise_rate_upper=0.002))
    assert not bound_only.relabel and bound_only.mislabeled.sum() == 25
    assert "the look-alike probes only bound the rest (at most 0.2%)" in bound_only.warnings[-1]
    flat = purify(predicted, max_score, labels, 0.05, quality=dict(quality, separation=1.0))
    assert flat.warnings == [NO_SEPARATION] and not flat.mislabeled.any() and not flat.outliers.any()
    assert not flat.relabel
    given = purify(predicted, max_score, labels, 0.05, quality=dict(quality, separation=1.0), delta_given=True)
    assert given.outliers.sum() == 1 and not given.mislabeled.any()
    costly = purify(predicted, max_score, labels, 0.05, quality=dict(quality, relabel_pays=False))
    assert not costly.relabel and "typical of few images per identity" in costly.warnings[-1]
    clean = purify(predicted, max_score, labels, 0.05,
                   quality=dict(quality, relabel_pays=False, noise_rate=0.0, noise_rate_upper=0.002))
    assert "nearly clean (noise rate ~0.0%, at most 0.2%)" in clean.warnings[-1] and not clean.relabel
    assert purify(predicted, max_score, labels, 0.05, relabel="all").relabel


def test_only_windows_that_separate_can_be_the_best():
    """cuhk03-4 at 40% noise (regime grid): window 1 flags nearly everything, so its F1 estimate is the
    highest (flagging all scores 2 rho / (1 + rho)), but the probes are flagged no more often than the
    others and the run could not act on it. Windows 1-2 and 1-3 score lower and only 1-3 separates (by
    more than 2 standard errors): it is the best window, and the run does not stop until 2 epochs past it."""
    from reidprune.select.calibration import ProbeEstimate

    n = 1000
    monitor = ProbeMonitor(LogitRecorder(n + 100, 4), np.zeros(n + 100, int), np.zeros(n + 100, int),
                           np.arange(n + 100) >= n, patience=2)
    monitor.noise_rate = monitor.noise_rate_upper = 0.5
    rows = [(1, 0.99, 990, -0.1), (2, 0.89, 850, 1.3), (3, 0.71, 630, 2.0 + 1e-6)]
    for epoch, recall, flagged, separation in rows:
        monitor.history.append(ProbeEstimate(epoch, 100, recall, 0.5, 0.5, flagged, 0.5, 0.0, 0.5, separation,
                                             separation))
        monitor._snapshots[epoch] = (None, None)
    judged = {e.epoch: e.f1 for e in monitor.judged()}
    assert judged[1] > judged[2] > judged[3]  # 0.664, 0.659, 0.628
    assert monitor.best().epoch == 3
    assert not monitor.should_stop  # epoch 3 itself: patience not yet spent


def test_a_pattern_needs_most_flags_and_twenty_of_them():
    from reidprune.select.calibration import follows_pattern

    assert follows_pattern(0.5, 20) and follows_pattern(0.9, 500)
    assert not follows_pattern(0.49, 500)  # not most of the flags
    assert not follows_pattern(1.0, 19)  # a handful of look-alikes, fewer than a noise-rate set holds


def test_a_window_judged_by_the_look_alike_probes_by_hand():
    from reidprune.select.calibration import ProbeEstimate

    window = ProbeEstimate(4, 100, recall=0.9, correction=0.8, noise_rate=0.0, flagged=100, precision=0.0, f1=0.0,
                           noise_rate_upper=0.1, separation=20.0, separation_similar=8.0, recall_similar=0.5)
    look = window.as_look_alike(0.1, 1000)
    # 100 wrong labels among 1000 others, half found: 50 of the 100 flags, F1 = 2 x 50 / (100 + 100)
    assert look.recall == 0.5 and look.noise_rate == 0.1 and look.separation == 8.0
    assert look.precision == pytest.approx(0.5) and look.f1 == pytest.approx(0.5) and look.judged_by == "similar"
    assert look.correction == 0.8 and look.flagged == 100 and look.epoch == 4
    assert window.judged_by == "all"
    no_similar = ProbeEstimate(4, 100, 0.9, 0.8, 0.0, 100, 0.0, 0.0)
    assert no_similar.as_look_alike(0.1, 1000) is no_similar


def test_estimate_reports_the_similar_probes_recall_and_the_repeated_pairs():
    # 3 classes; samples 0-3 probes (1 and 3 given the similar identity), 4-13 others
    true = np.array([0, 1, 2, 0] + [0, 0, 0, 0, 1, 2, 0, 1, 2, 0])
    trained = true.copy()
    trained[:4] = [1, 2, 0, 2]
    probes = np.arange(14) < 4
    similar = np.isin(np.arange(14), [1, 3])
    soft = np.full((14, 3), 0.05)
    soft[np.arange(14), true] = 0.9
    soft[3] = [0.05, 0.05, 0.9]  # a similar probe memorised: the similar kind's recall is 1/2
    soft[4:8] = [0.05, 0.9, 0.05]  # four images given 0 look like 1: one repeated (0 -> 1) pair
    soft[8] = [0.05, 0.05, 0.9]  # one given 1 looks like 2
    found = estimate(soft, trained, true, probes, similar=similar)
    assert found.recall == pytest.approx(0.75) and found.recall_similar == pytest.approx(0.5)
    assert found.flagged == 5 and found.repeated == 4 and found.repeated_share == pytest.approx(0.8)
    assert estimate(soft, trained, true, probes).recall_similar is None  # no similar probes


def test_windows_are_judged_by_the_look_alike_probes_when_the_flags_follow_a_pattern():
    """towncentre with 20% pair-wise noise (regime grid, a design cell): the random probes stay flagged
    while the model memorises the repeated look-alike errors, and their noise-rate bound is 0, so
    every window's F1 is 0 and the tie-break takes the last window, which flags fewest. Most flags
    fall in repeated pairs, so windows are judged by the look-alike probes: their recall falls with
    the real errors' (0.75 -> 0.51), and with their bound (0.12) window 1-5 is best:
    F1 = 2 x 0.71 x 420 / (554 + 420) = 0.612 against 0.593 (1-4), 0.545 (1-6), 0.606 (1-8)."""
    from reidprune.select.calibration import PATTERN_WHY, ProbeEstimate

    n = 3500
    monitor = ProbeMonitor(LogitRecorder(n + 110, 4), np.zeros(n + 110, int), np.zeros(n + 110, int),
                           np.arange(n + 110) >= n, patience=2)
    monitor.noise_rate_upper = 0.12
    rows = [(4, 0.86, 0.75, 642), (5, 0.85, 0.71, 554), (6, 0.76, 0.58, 474), (8, 0.68, 0.51, 287)]

    def add(pattern: float, noise_rate: float = 0.0, separation_similar: float = 10.0):
        monitor.history.clear()
        monitor.noise_rate = noise_rate
        for epoch, recall, recall_similar, flagged in rows:
            monitor.history.append(ProbeEstimate(epoch, 110, recall, 0.8, noise_rate, flagged, 0.0, 0.0, 0.12, 18.0,
                                                 separation_similar, recall_similar, pattern, int(pattern * flagged)))
            monitor._snapshots[epoch] = (None, None)

    # symmetric-looking flags and a random-probe bound above 0: every probe judges, fewest flags per probe found
    add(pattern=0.1, noise_rate=0.001)
    assert not monitor.look_alike and monitor.best().epoch == 8
    add(pattern=0.88, noise_rate=0.001)
    assert monitor.look_alike
    f1 = {e.epoch: round(e.f1, 3) for e in monitor.judged()}
    assert f1 == {4: 0.593, 5: 0.612, 6: 0.545, 8: 0.606}
    best = monitor.best()
    assert best.epoch == 5 and best.judged_by == "similar" and best.noise_rate == 0.12
    assert best.judged_why == PATTERN_WHY


def test_without_a_pattern_the_look_alike_probes_judge_where_the_random_ones_say_no_error_is_like_them():
    """CUHK03 with 20% pair-wise noise (regime grid): about 10 images per identity, so a look-alike pair
    holds about two errors and rarely repeats (at most 26% of the flags), yet the random probes' noise-rate
    bound is 0 from epoch 2: no other image is as unlikely under its label as they are. The similar
    probes still separate, so they judge, as under a pattern (same numbers as the test above: window 1-5).
    On a clean set with 4 images per identity the bound is 0 as well, but there the similar probes are
    memorised like every other image (separation about 0): nothing changes, the fewest flags win."""
    from reidprune.select.calibration import NOT_RANDOM_WHY, ProbeEstimate, not_random_kind

    assert not_random_kind(0.0, 2.5) and not not_random_kind(0.0, 2.0) and not not_random_kind(0.003, 30.0)
    # a bound, not evidence of errors (a clean set looks the same): such a window never relabels
    assert relabel_pays(0.99, 0.99, 500) and not relabel_pays(0.99, 0.99, 500, NOT_RANDOM_WHY)
    n = 3500
    monitor = ProbeMonitor(LogitRecorder(n + 110, 4), np.zeros(n + 110, int), np.zeros(n + 110, int),
                           np.arange(n + 110) >= n, patience=2)
    monitor.noise_rate_upper = 0.12
    rows = [(4, 0.86, 0.75, 642), (5, 0.85, 0.71, 554), (6, 0.76, 0.58, 474), (8, 0.68, 0.51, 287)]
    for separation_similar, look_alike, epoch in ((10.0, True, 5), (-0.2, False, 8)):
        monitor.history.clear()
        monitor.noise_rate = 0.0
        for e, recall, recall_similar, flagged in rows:
            monitor.history.append(ProbeEstimate(e, 110, recall, 0.8, 0.0, flagged, 0.0, 0.0, 0.12, 18.0,
                                                 separation_similar, recall_similar, 0.1, int(0.1 * flagged)))
            monitor._snapshots[e] = (None, None)
        assert monitor.look_alike is look_alike
        best = monitor.best()
        assert best.epoch == epoch
        assert best.judged_why == (NOT_RANDOM_WHY if look_alike else "")
