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
