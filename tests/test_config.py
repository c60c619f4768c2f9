"""The one typed config: defaults, TOML, `--set` overrides, and one-line errors for bad values."""

from __future__ import annotations

import pytest

from rag_agent.config import RagloopConfig
from rag_agent.errors import ConfigError
from rag_agent.workspace import Workspace


def test_overrides_are_coerced_to_the_declared_types():
    cfg = RagloopConfig().apply_overrides(["chunking.size=800", "gate.tolerance=0.02", "index.backend=chroma", "agent.max_rewrites=0"])
    assert (cfg.chunking.size, cfg.gate.tolerance, cfg.index.backend, cfg.agent.max_rewrites) == (800, 0.02, "chroma", 0)


@pytest.mark.parametrize(
    "override, named",
    [("chunking.sise=800", "chunking.sise"), ("chunking.size=big", "chunking.size"), ("index.backend=annoy", "index.backend"), ("nokey", "nokey")],
)
def test_bad_overrides_name_the_value_and_the_fix(override, named):
    with pytest.raises(ConfigError) as err:
        RagloopConfig().apply_overrides([override])
    message = str(err.value)
    assert named in message and "fix:" in message and "\n" not in message


def test_new_workspace_follows_defaults_until_a_value_is_pinned(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    assert all(line.startswith("#") or line.startswith("[") or not line.strip() for line in ws.config_path.read_text().splitlines())
    assert Workspace.open(tmp_path / "ws").config == RagloopConfig()
    ws.config.set("chunking.overlap", 100)
    ws.save_config()
    reopened = Workspace.open(tmp_path / "ws", overrides=["chunking.size=900"])
    assert (reopened.config.chunking.overlap, reopened.config.chunking.size) == (100, 900)
    assert Workspace.open(tmp_path / "ws").config.chunking.size == 1000  # overrides are per process


def test_malformed_toml_is_one_clear_error(tmp_path):
    path = tmp_path / "ws" / "ragloop.toml"
    path.parent.mkdir()
    path.write_text("[chunking\nsize = 3")
    with pytest.raises(ConfigError, match="valid TOML"):
        Workspace.open(tmp_path / "ws")


def test_the_toml_file_has_one_table_per_component(tmp_path):
    cfg = RagloopConfig().apply_overrides(["training.embedder.lr=1e-4", "training.ppo.clip=0.3", "feedback.judge.mode=quote"])
    cfg.save(tmp_path / "ragloop.toml")
    text = (tmp_path / "ragloop.toml").read_text()
    assert "[training.embedder]" in text and "[feedback.judge]" in text and "embedder_lr" not in text
    assert RagloopConfig.load(tmp_path / "ragloop.toml") == cfg


def test_keys_are_dotted_paths_of_the_tree():
    keys = RagloopConfig().keys()
    assert {"training.embedder.lr", "training.ppo.clip", "training.loop.tasks_per_cycle", "feedback.judge.mode", "models.device"} <= set(keys)
    assert not [k for k in keys if k.startswith("training.") and k.count(".") != 2]  # every training setting sits in a component


def test_every_setting_is_documented():
    from rag_agent.config_section import Section

    def undocumented(section: type[Section], prefix: str) -> list[str]:
        out = []
        for name, info in section.model_fields.items():
            if isinstance(info.annotation, type) and issubclass(info.annotation, Section):
                out += undocumented(info.annotation, f"{prefix}{name}.")
            if not (info.description or "").strip():
                out.append(f"{prefix}{name}")
        return out

    assert undocumented(RagloopConfig, "") == []


@pytest.mark.parametrize("old, new, value", [
    ("training.embedder_lr", "training.embedder.lr", 1e-4),
    ("training.ppo_clip", "training.ppo.clip", 0.3),
    ("training.ppo_kl", "training.ppo.kl_coef", 0.2),
    ("training.reranker_algo", "training.reranker.objective", "dpo"),
    ("training.tasks_per_cycle", "training.loop.tasks_per_cycle", 3),
    ("feedback.judge_mode", "feedback.judge.mode", "quote"),
    ("feedback.judge", "feedback.judge.backend", "none"),
])
def test_old_flat_keys_land_in_the_new_field_with_one_warning(old, new, value, caplog):
    for cfg in (RagloopConfig().apply_overrides([f"{old}={value}"]), RagloopConfig.from_dict({old.split(".")[0]: {old.split(".")[1]: value}})):
        got = cfg
        for part in new.split("."):
            got = getattr(got, part)
        assert got == value
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert warnings == [f"{old} is deprecated: use {new}"] * 2  # one line per key, each time it is read


def test_the_old_training_seed_seeds_every_component():
    cfg = RagloopConfig().apply_overrides(["training.seed=7"])
    t = cfg.training
    assert (t.embedder.seed, t.reranker.seed, t.data.seed, t.loop.seed) == (7, 7, 7, 7)


def test_a_section_refuses_bad_values_however_it_is_reached():
    from training.embedder_config import EmbedderTrainConfig

    cfg = RagloopConfig()
    with pytest.raises(ConfigError, match="training.embedder.lr"):
        cfg.training.embedder.lr = -1.0
    assert cfg.training.embedder.lr == 2e-5  # the refused value was not kept
    with pytest.raises(ConfigError, match="training.embedder.merge_alpha"):
        EmbedderTrainConfig(merge_alpha=1.5)
    with pytest.raises(ConfigError, match="did you mean training.embedder.lr"):
        cfg.training.embedder.updated(lrr=1e-4)
    assert cfg.training.embedder.updated(lr=1e-4).lr == 1e-4 and cfg.training.embedder.lr == 2e-5
