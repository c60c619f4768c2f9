"""Config validation: every numeric field has a range and must be finite, unknown keys get the three
nearest known ones, and a refused value is refused before a workspace is created."""

from __future__ import annotations

import pytest

from rag_agent.config import RagloopConfig
from rag_agent.config_bounds import ANY, COUNT, POSITIVE, UNIT, bound_for, check_number
from rag_agent.errors import ConfigError
from rag_agent.workspace import Workspace


def numeric_keys(cfg: RagloopConfig) -> list[tuple[str, object]]:
    out = []
    for key in cfg.keys():
        item = cfg
        for part in key.split("."):
            item = getattr(item, part)
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append((key, item))
    return out


def test_every_default_validates_and_round_trips():
    cfg = RagloopConfig()
    keys = numeric_keys(cfg)
    assert len(keys) > 60  # the rules cover every numeric field, not a hand-picked few
    for key, value in keys:
        assert check_number(key, value, type(value)) is None, key
    assert RagloopConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("override, expected", [
    ("gate.tolerance=nan", "finite"),
    ("gate.tolerance=inf", "finite"),
    ("gate.tolerance=-0.1", ">= 0"),
    ("training.embedder.merge_alpha=7", "between 0 and 1"),
    ("training.ppo.clip=1", "1 (excluded)"),
    ("training.ppo.samples=1", ">= 2"),
    ("training.embedder.batch_size=1", ">= 2"),
    ("agent.workers=0", ">= 1"),
    ("chunking.size=0", ">= 1"),
    ("llm.timeout_s=0", "> 0"),
    ("training.embedder.lr=0", "> 0"),
    ("feedback.judge.quote_min_match=1.5", "between 0 and 1"),
    ("agent.max_rewrites=-1", ">= 0"),
    ("agent.workers=true", "type int"),
])
def test_values_that_make_no_sense_are_refused_in_one_line(override, expected):
    with pytest.raises(ConfigError) as err:
        RagloopConfig().apply_overrides([override])
    message = str(err.value)
    assert override.split("=")[0] in message and expected in message and "fix:" in message and "\n" not in message


def test_toml_values_are_checked_like_overrides():
    with pytest.raises(ConfigError, match="training.embedder.merge_alpha"):
        RagloopConfig.from_dict({"training": {"embedder": {"merge_alpha": 7.0}}})
    with pytest.raises(ConfigError, match="training.embedder.merge_alpha"):
        RagloopConfig.from_dict({"training": {"merge_alpha": 7.0}})  # old flat key
    with pytest.raises(ConfigError, match="finite"):
        RagloopConfig.from_dict({"gate": {"tolerance": float("nan")}})


def test_fields_added_later_are_covered_by_name_and_type_rules():
    assert bound_for("training.new_alpha", float) == UNIT
    assert bound_for("feedback.label_fraction", float) == UNIT
    assert bound_for("agent.retry_wait_s", float) == COUNT
    assert bound_for("loop.probe_tolerance", int) == COUNT
    assert bound_for("training.head_lr", float) == POSITIVE
    assert bound_for("training.shuffle_seed", int) == ANY
    assert bound_for("training.new_count", int) == COUNT
    assert check_number("training.some_scale", float("nan"), float) == "a finite number"


def test_overlap_must_stay_below_the_chunk_size():
    with pytest.raises(ConfigError, match="chunking.overlap"):
        RagloopConfig().apply_overrides(["chunking.size=150"])  # default overlap 200
    assert RagloopConfig().apply_overrides(["chunking.size=150", "chunking.overlap=50"]).chunking.size == 150


@pytest.mark.parametrize("typo, nearest", [
    ("agent.worker", "agent.workers"),
    ("gate.tolerence", "gate.tolerance"),
    ("chunkng.size", "chunking.size"),
    ("training.embedder.merge_alpa", "training.embedder.merge_alpha"),
    ("training.ppo.clp", "training.ppo.clip"),
])
def test_unknown_keys_get_the_three_nearest(typo, nearest):
    with pytest.raises(ConfigError) as err:
        RagloopConfig().apply_overrides([f"{typo}=1"])
    message = str(err.value)
    suggestions = message.split("did you mean ", 1)[1].split("?", 1)[0].split(", ")
    assert nearest in suggestions and 1 <= len(suggestions) <= 3
    assert len(message) < 300  # not the 4 KB list of every key


def test_a_refused_value_creates_no_workspace(tmp_path):
    for bad in (["chunking.size=0"], ["chunking.size=abc"], ["nosuch.key=1"], ["chunking.size=100"]):
        with pytest.raises(ConfigError):
            Workspace.open(tmp_path / "ws", overrides=bad)
        assert not (tmp_path / "ws").exists()


def test_a_workspace_under_a_regular_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    for root in (tmp_path / "file", tmp_path / "file" / "ws", tmp_path / "file" / "a" / "b"):
        with pytest.raises(ConfigError) as err:
            Workspace.open(root)
        assert "regular file" in str(err.value) and "\n" not in str(err.value)
