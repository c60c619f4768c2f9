"""Each component's settings object IS its config section: the trainers and the judge receive the
workspace's section objects themselves (no copy made field by field), so a setting has one default
in one place and cannot drift between the config and the component."""

from __future__ import annotations

import pytest

from feedback.judge import JudgeSettings, LLMJudge
from rag_agent.config import RagloopConfig
from training.data import EmbedderExample
from training.embedder_config import EmbedderTrainConfig
from training.reranker_config import BCEConfig, DistillConfig, DPOConfig, PPOConfig, RerankerTrainConfig
from training.settings import LoopConfig, TrainingDataConfig

from test_training_distill_data import MIXED, _fill


class Captured(Exception):
    """Stops a candidate at the trainer call, once its arguments are recorded."""


def test_each_component_class_is_its_config_section():
    cfg = RagloopConfig()
    t = cfg.training
    sections = [(t.embedder, EmbedderTrainConfig), (t.reranker, RerankerTrainConfig), (t.distill, DistillConfig), (t.dpo, DPOConfig),
                (t.ppo, PPOConfig), (t.bce, BCEConfig), (t.data, TrainingDataConfig), (t.loop, LoopConfig), (cfg.feedback.judge, JudgeSettings)]
    for section, component_class in sections:
        assert type(section) is component_class
        assert section == component_class()  # the component's defaults are the config's defaults: one place


def test_the_judge_keeps_the_section_it_is_given():
    class Named:
        name = "scripted"

    cfg = RagloopConfig().apply_overrides(["feedback.judge.mode=passage-first"])
    judge = LLMJudge(Named(), cfg.feedback.judge)
    assert judge.settings is cfg.feedback.judge and judge.prompt_version == "passage-first-v1"


def test_the_reranker_trainer_receives_the_workspace_sections(workspace, monkeypatch):
    from training import distill_trainer
    from training.candidates import train_reranker_candidate

    seen = {}

    def fake_trainer(parent_path, data, cfg, out_dir, embedder=None, *, objective, models):
        seen.update(cfg=cfg, objective=objective, models=models)
        raise Captured

    monkeypatch.setattr(distill_trainer, "train_reranker_distill", fake_trainer)
    _fill(workspace, MIXED)
    with pytest.raises(Captured):
        train_reranker_candidate(workspace, "distill", run_ids=["r1"])
    t = workspace.config.training
    assert seen["cfg"] is t.reranker and seen["objective"] is t.distill and seen["models"] is workspace.config.models


def test_the_embedder_trainer_receives_the_workspace_sections(workspace, monkeypatch):
    from training import data, embedder_trainer
    from training.candidates import train_embedder_candidate

    seen = {}

    def fake_trainer(parent_path, examples, cfg, out_dir, replay=None, distill=None, distill_cfg=None, *, models):
        seen.update(cfg=cfg, distill_cfg=distill_cfg, models=models)
        raise Captured

    examples = [EmbedderExample("q1", "p1", ["n1"]), EmbedderExample("q2", "p2", ["n2"])]
    monkeypatch.setattr(data, "load_embedder_examples_from_workspace", lambda *args, **kw: examples)
    monkeypatch.setattr(embedder_trainer, "train_embedder", fake_trainer)
    with pytest.raises(Captured):
        train_embedder_candidate(workspace)
    t = workspace.config.training
    assert seen["cfg"] is t.embedder and seen["distill_cfg"] is t.distill and seen["models"] is workspace.config.models
