"""A workspace written before the config tree (issue 12) still opens: its ragloop.toml, pinned or
commented, loads with the current code to the current defaults. The two files were written by
`RagloopConfig().save(path, pin=True / pin=False)` at commit 613b3a9 (data_dir pinned to "data")."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_agent.config import RagloopConfig

OLD = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["ragloop_old_pinned.toml", "ragloop_old_commented.toml"])
def test_an_old_config_file_loads_to_the_defaults(name):
    loaded = RagloopConfig.load(OLD / name).to_dict()
    defaults = RagloopConfig().to_dict()
    loaded.pop("data_dir"), defaults.pop("data_dir")
    assert loaded == defaults
