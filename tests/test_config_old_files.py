"""A workspace written before the config tree (issue 12) still opens: its ragloop.toml, pinned or
commented, loads with the current code to the current defaults. The two files were written by
`RagloopConfig().save(path, pin=True / pin=False)` at commit 613b3a9 (data_dir pinned to "data")."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_agent.config import RagloopConfig

OLD = Path(__file__).parent / "data"


# Defaults changed since the files were written: a PINNED file keeps its old value (a workspace's
# judge stays the one its cache and thresholds were made with); a commented one follows the new default.
CHANGED_SINCE = {("feedback", "judge", "mode"): "pointwise", ("agent", "max_rewrites"): 2, ("training", "loop", "tasks_per_contract"): 10}


@pytest.mark.parametrize("name", ["ragloop_old_pinned.toml", "ragloop_old_commented.toml"])
def test_an_old_config_file_loads_to_the_defaults(name):
    loaded = RagloopConfig.load(OLD / name).to_dict()
    defaults = RagloopConfig().to_dict()
    loaded.pop("data_dir"), defaults.pop("data_dir")
    for (*path, key), old in CHANGED_SINCE.items():
        mine, new = _get(loaded, path), _get(defaults, path)
        assert mine[key] == (old if "pinned" in name else new[key])
        mine[key] = new[key]
    assert loaded == defaults


def _get(tree: dict, path: list[str]) -> dict:
    for part in path:
        tree = tree[part]
    return tree


def test_non_default_old_values_land_in_the_new_fields(tmp_path, caplog):
    text = (OLD / "ragloop_old_pinned.toml").read_text()
    for old, new in [("embedder_lr = 2e-05", "embedder_lr = 0.0001"), ("ppo_clip = 0.2", "ppo_clip = 0.3"),
                     ('judge_mode = "pointwise"', 'judge_mode = "quote"'), ("reranker_min_positives = 10", "reranker_min_positives = 3"),
                     ("tasks_per_cycle = 8", "tasks_per_cycle = 5")]:
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "ragloop.toml").write_text(text)
    cfg = RagloopConfig.load(tmp_path / "ragloop.toml")
    t = cfg.training
    assert (t.embedder.lr, t.ppo.clip, cfg.feedback.judge.mode, t.bce.min_positives, t.loop.tasks_per_cycle) == (1e-4, 0.3, "quote", 3, 5)
    assert "training.embedder_lr is deprecated: use training.embedder.lr" in caplog.text
    assert "feedback.judge_mode is deprecated: use feedback.judge.mode" in caplog.text
