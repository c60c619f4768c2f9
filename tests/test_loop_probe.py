"""The agent probe measures a paired difference and vetoes only a significant drop."""

from __future__ import annotations

import pytest

from training.loop_probe import mcnemar_p_drop, paired_probe


def _outcomes(pairs: list[tuple[bool, bool]]):
    champion = {f"t{i}": c for i, (c, _) in enumerate(pairs)}
    proposed = {f"t{i}": p for i, (_, p) in enumerate(pairs)}
    return champion, proposed


def test_exact_mcnemar_p_values():
    assert mcnemar_p_drop(0, 0) == 1.0
    assert mcnemar_p_drop(5, 0) == pytest.approx(1 / 32)
    assert mcnemar_p_drop(4, 0) == pytest.approx(1 / 16)
    assert mcnemar_p_drop(8, 1) == pytest.approx(10 / 512)  # P(X >= 8), X ~ Bin(9, 1/2)
    assert mcnemar_p_drop(1, 3) == pytest.approx(15 / 16)


def test_one_lost_task_measures_but_does_not_veto():
    # The cycle 3: the proposed pipeline solved 3 of 4 probe tasks, the champion 4.
    stats = paired_probe(*_outcomes([(True, True)] * 3 + [(True, False)]), alpha=0.05)
    assert (stats.champion_successes, stats.proposed_successes, stats.only_champion) == (4, 3, 1)
    assert stats.difference == pytest.approx(-0.25) and stats.ci_low < -0.2 and stats.ci_high == pytest.approx(0.0)
    assert not stats.veto and stats.p_drop == pytest.approx(0.5)


def test_four_probe_tasks_can_never_veto_but_five_lost_do():
    assert not paired_probe(*_outcomes([(True, False)] * 4), alpha=0.05).veto  # p = 1/16
    stats = paired_probe(*_outcomes([(True, False)] * 5 + [(False, False)] * 3), alpha=0.05)
    assert stats.veto and stats.p_drop == pytest.approx(1 / 32) and stats.ci_high < 0


def test_only_tasks_both_pipelines_answered_are_paired():
    champion, proposed = _outcomes([(True, True), (False, True)])
    champion["only-champion-ran"] = True
    stats = paired_probe(champion, proposed, alpha=0.05)
    assert stats.tasks == 2 and stats.difference == pytest.approx(0.5) and not stats.veto
    assert "probe 2/2 vs champion 1/2" in stats.text
