"""Model registry on a real DuckDB workspace: champions, lineage, promotion atomicity, rollback."""

from __future__ import annotations

import json

import pytest

from rag_agent.errors import ConfigError, ModelError
from training import registry


def _fake_model(ws, kind: str, version_id: str, payload: str = "w") -> None:
    """A complete-looking model folder: the registry never loads weights, it only checks files."""
    folder = registry.version_dir(ws, kind, version_id)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"payload": payload}))
    (folder / "model.safetensors").write_text(payload)


def test_base_versions_are_the_first_champions(workspace):
    emb = registry.champion(workspace, "embedder")
    rer = registry.champion(workspace, "reranker")
    assert emb.version_id == "embedder-base" and emb.parent_id is None and emb.content_version
    assert rer.is_none and rer.path == "none"
    assert registry.champion_specs(workspace)[1] == "none"
    assert registry.check_invariants(workspace) == []


def test_candidate_needs_files_and_a_registered_parent(workspace):
    with pytest.raises(ModelError):
        registry.register_candidate(workspace, "embedder", "embedder-0001-aaaaaa", "embedder-base", {}, {}, {})
    _fake_model(workspace, "embedder", "embedder-0001-aaaaaa")
    with pytest.raises(ConfigError):
        registry.register_candidate(workspace, "embedder", "embedder-0001-aaaaaa", "embedder-ghost", {}, {}, {})
    version = registry.register_candidate(
        workspace, "embedder", "embedder-0001-aaaaaa", "embedder-base", {"lr": 1e-5}, {"source": "test"}, {"loss": [1.0]}
    )
    assert version.status == "candidate" and version.config == {"lr": 1e-5}
    assert registry.champion(workspace, "embedder").version_id == "embedder-base"
    with pytest.raises(ConfigError):
        registry.check_kind("generator")


@pytest.mark.slow
def test_promote_then_rollback_restores_previous_champion(workspace):
    ids = []
    for n in (1, 2):
        vid = registry.new_version_id(workspace, "embedder")
        _fake_model(workspace, "embedder", vid, payload=str(n))
        registry.register_candidate(workspace, "embedder", vid, ids[-1] if ids else "embedder-base", {}, {}, {})
        registry.promote(workspace, vid, reason="gate passed", metrics={"ndcg": 0.5 + n})
        ids.append(vid)
    assert registry.champion(workspace, "embedder").version_id == ids[1]
    assert registry.get_version(workspace, ids[0]).status == "retired"
    assert registry.get_version(workspace, ids[1]).metrics["ndcg"] == 2.5
    assert registry.use_champions(workspace).config.models.embedder.endswith(ids[1])

    restored = registry.rollback(workspace, "embedder")
    assert restored.version_id == ids[0]
    assert registry.get_version(workspace, ids[1]).status == "rejected"
    assert registry.rollback(workspace, "embedder", to="embedder-base").version_id == "embedder-base"
    actions = [row[4] for row in registry.promotions(workspace, "embedder")]
    assert actions == ["base", "promote", "promote", "rollback", "rollback"]
    assert registry.check_invariants(workspace) == []
    with pytest.raises(ConfigError):
        registry.rollback(workspace, "embedder", to="reranker-none")


def test_crash_inside_the_switch_leaves_the_old_champion(workspace, monkeypatch):
    vid = registry.new_version_id(workspace, "reranker")
    _fake_model(workspace, "reranker", vid)
    registry.register_candidate(workspace, "reranker", vid, "reranker-none", {}, {}, {})

    def crash(action):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(registry, "_before_commit_hook", crash)
    with pytest.raises(KeyboardInterrupt):
        registry.promote(workspace, vid)
    assert registry.champion(workspace, "reranker").version_id == "reranker-none"
    assert registry.get_version(workspace, vid).status == "candidate"
    assert [row[4] for row in registry.promotions(workspace, "reranker")] == ["base"]
    assert registry.check_invariants(workspace) == []

    monkeypatch.setattr(registry, "_before_commit_hook", lambda action: None)
    assert registry.promote(workspace, vid).status == "champion"
    assert registry.champion_specs(workspace)[1].endswith(vid)


def test_rejecting_a_candidate_and_refusing_to_reject_the_champion(workspace):
    vid = registry.new_version_id(workspace, "embedder")
    _fake_model(workspace, "embedder", vid)
    registry.register_candidate(workspace, "embedder", vid, "embedder-base", {}, {}, {})
    assert registry.reject(workspace, vid, "ndcg regressed on AILAStatutes").status == "rejected"
    with pytest.raises(ConfigError):
        registry.reject(workspace, "embedder-base", "no")
    with pytest.raises(ConfigError):
        registry.rollback(workspace, "reranker")  # the base has no predecessor


def test_version_records_serialise_and_name_model_pairs(workspace):
    base = registry.champion(workspace, "embedder")
    record = base.to_dict()
    assert json.loads(json.dumps(record))["version_id"] == "embedder-base"
    assert registry.slug_versions(str(registry.version_dir(workspace, "embedder", "embedder-0002-1a2b3c")), "none") == "embedder-0002-1a2b3c+none"
    assert registry.slug_versions("bundled:all-MiniLM-L6-v2", "/x/y/reranker-0001-ffffff") == "base+reranker-0001-ffffff"


def test_versions_resolve_inside_a_copied_workspace_opened_from_elsewhere(tmp_path, monkeypatch):
    """Rows and reranker cards keep the paths training was given ('ws/models/...', relative to
    that command's directory). Opened from another directory, or copied (as the benches do), the
    workspace must still find its OWN folders, not the original's or none."""
    import shutil

    from rag_agent.retrieval.reranker import RESIDUAL_CARD, read_residual_card
    from rag_agent.workspace import Workspace

    monkeypatch.chdir(tmp_path)
    ws = Workspace.open("ws")
    _fake_model(ws, "reranker", "reranker-0001-aaaaaa")
    (ws.models_dir / "embedder" / "embedder-0001-bbbbbb").mkdir(parents=True)
    card = {"base_scale": 20.0, "embedder_path": "ws/models/embedder/embedder-0001-bbbbbb", "embedder_version": "v"}
    (registry.version_dir(ws, "reranker", "reranker-0001-aaaaaa") / RESIDUAL_CARD).write_text(json.dumps(card))
    stored = registry.register_candidate(ws, "reranker", "reranker-0001-aaaaaa", "reranker-none", {}, {}, {})
    assert stored.path == "ws/models/reranker/reranker-0001-aaaaaa"  # as given: relative to this directory

    shutil.copytree(tmp_path / "ws", tmp_path / "elsewhere" / "copy")
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    copy = Workspace.open(tmp_path / "elsewhere" / "copy", create=False)
    version = registry.get_version(copy, "reranker-0001-aaaaaa")
    assert version.path == str(tmp_path / "elsewhere" / "copy" / "models" / "reranker" / "reranker-0001-aaaaaa")
    assert [v.path for v in registry.list_versions(copy, "reranker") if v.version_id == version.version_id] == [version.path]
    bound = read_residual_card(version.path)["embedder_path"]
    assert bound == str(tmp_path / "elsewhere" / "copy" / "models" / "embedder" / "embedder-0001-bbbbbb")
    assert registry.get_version(copy, "reranker-none").path == "none"
