"""The model registry: every embedder/reranker version, which one is champion, and its history.

Files first, database second: a version's folder (`ws.models_dir/<kind>/<version_id>`, standard
sentence-transformers / CrossEncoder format) is written completely before its row is inserted, and
a promotion switches statuses and appends to `promotions` in ONE transaction. A crash at any point
therefore leaves the previous champion in place (an orphan folder at worst, never a champion row
pointing at a half-written model).

The base embedder (the configured `models.embedder`, bundled MiniLM by default) is registered as
the first embedder champion; the base reranker is "none" (retrieval order is kept).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from rag_agent.db import transaction
from rag_agent.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

Kind = Literal["embedder", "reranker"]
KINDS: tuple[str, ...] = ("embedder", "reranker")
STATUSES = ("candidate", "champion", "rejected", "retired")
NO_RERANKER = "none"

_COLUMNS = "version_id, kind, parent_id, path, content_version, config, trained_on, metrics, status, reason, created_at"


@dataclass
class ModelVersion:
    version_id: str
    kind: str
    parent_id: str | None
    path: str
    content_version: str | None = None
    config: dict = field(default_factory=dict)
    trained_on: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    status: str = "candidate"
    reason: str | None = None
    created_at: datetime | None = None

    def to_dict(self) -> dict:
        """JSON-ready (created_at as ISO text), e.g. for loop state files."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        return data

    @property
    def is_none(self) -> bool:
        """The "no reranker" base version (nothing to load)."""
        return self.path == NO_RERANKER

    @classmethod
    def from_row(cls, row: tuple, ws) -> ModelVersion:
        vid, kind, parent, path, content, config, trained_on, metrics, status, reason, created = row
        path = _resolve_path(ws, kind, vid, path)
        return cls(vid, kind, parent, path, content, json.loads(config), json.loads(trained_on), json.loads(metrics), status, reason, created)


def _resolve_path(ws, kind: str, version_id: str, stored: str) -> str:
    """Where the version's folder is NOW. Rows store the path as it was given when training ran,
    often relative to that command's working directory ('workspace/models/...'), which breaks as
    soon as the workspace is opened from another directory or copied. A version trained into its
    workspace lives in `version_dir(ws, kind, version_id)`, so that folder wins when it exists;
    otherwise the stored path (absolute, or relative to the current directory) is kept."""
    if stored == NO_RERANKER or Path(stored).is_absolute():
        return stored
    own = version_dir(ws, kind, version_id)
    return str(own) if own.is_dir() else stored


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"kind={kind!r}", "embedder or reranker", "pass --kind embedder or --kind reranker")
    return kind


def version_dir(ws, kind: str, version_id: str) -> Path:
    return ws.models_dir / check_kind(kind) / version_id


def new_version_id(ws, kind: str) -> str:
    """'<kind>-<n>-<random>': the counter keeps lineage readable, the suffix keeps ids unique even
    when two trainers start at once."""
    ensure_base(ws)
    with ws.db() as con:
        (count,) = con.execute("SELECT count(*) FROM model_versions WHERE kind = ?", [check_kind(kind)]).fetchone()
    return f"{kind}-{count:04d}-{secrets.token_hex(3)}"


# ---- reading ------------------------------------------------------------------------------------
def get_version(ws, version_id: str, con=None) -> ModelVersion:
    def read(c):
        return c.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE version_id = ?", [version_id]).fetchone()

    row = read(con) if con is not None else _with_db(ws, read)
    if row is None:
        raise ConfigError(f"version {version_id!r}", "a registered model version", "list them with `training models`")
    return ModelVersion.from_row(row, ws)


def list_versions(ws, kind: str | None = None) -> list[ModelVersion]:
    ensure_base(ws)
    where, params = ("WHERE kind = ?", [check_kind(kind)]) if kind else ("", [])
    with ws.db() as con:
        rows = con.execute(f"SELECT {_COLUMNS} FROM model_versions {where} ORDER BY created_at, version_id", params).fetchall()
    return [ModelVersion.from_row(r, ws) for r in rows]


def champion(ws, kind: str) -> ModelVersion:
    """The version retrieval should use for `kind` (registers the base on first use)."""
    ensure_base(ws)
    with ws.db() as con:
        rows = con.execute(
            f"SELECT {_COLUMNS} FROM model_versions WHERE kind = ? AND status = 'champion'", [check_kind(kind)]
        ).fetchall()
    if len(rows) != 1:
        raise ModelError(f"{len(rows)} {kind} champions", "exactly one champion per kind", "run `training rollback --kind " + kind + "`")
    return ModelVersion.from_row(rows[0], ws)


def champion_specs(ws) -> tuple[str, str]:
    """(embedder spec, reranker spec) of the champions, as `models.embedder`/`models.reranker` take them.

    A reranker bound to another embedder than the champion's (see `serves_with`) is not served:
    the pipeline falls back to "none" with a warning naming the fix."""
    embedder, reranker = champion(ws, "embedder"), champion(ws, "reranker")
    if not serves_with(reranker, embedder):
        log.warning(
            "reranker champion %s was trained over embedder %s, not the champion %s: serving without a reranker; "
            "fix: train and promote a reranker over the new embedder, re-bind this one after gating it on top of it "
            "(training.registry.rebind), or roll back the embedder",
            reranker.version_id, reranker.config.get("embedder_id"), embedder.version_id,
        )
        return embedder.path, NO_RERANKER
    return embedder.path, reranker.path


# ---- reranker <-> embedder pairing ----------------------------------------------------------------
# A residual reranker's score includes its embedder's cosine (rag_agent.retrieval.reranker), so
# each reranker version records the embedder it was trained over (config embedder_id /
# embedder_version). It serves with that embedder, or with an embedder it was explicitly re-bound
# to: promoting a reranker re-binds it to the embedder champion of that moment (the gate judged
# it on top of that embedder), and `rebind` does it by hand. Promoting another embedder therefore
# stops it from serving (champion_specs), and rolling that embedder back restores the pair.
def serves_with(reranker: ModelVersion, embedder: ModelVersion) -> bool:
    bound = reranker.config.get("embedder_version")
    if reranker.is_none or bound is None:  # "none" and legacy cross-encoders carry no embedder term
        return True
    return bound == embedder.content_version or embedder.version_id in reranker.config.get("served_with", [])


def rebind(ws, reranker_id: str, reason: str) -> ModelVersion:
    """Explicitly allow `reranker_id` to serve with the current embedder champion (e.g. after gating
    it on top of that embedder); recorded in its config and in `promotions` (action 'rebind')."""
    embedder = champion(ws, "embedder")
    with ws.db() as con:
        version = get_version(ws, reranker_id, con)
        if version.kind != "reranker":
            raise ConfigError(reranker_id, "a reranker version", "pick one from `training models --kind reranker`")
        config = _with_served_with(version.config, embedder.version_id)
        with transaction(con):
            con.execute("UPDATE model_versions SET config = ? WHERE version_id = ?", [json.dumps(config), reranker_id])
            _append_promotion(con, "reranker", reranker_id, reranker_id, "rebind", f"serves with {embedder.version_id}: {reason}")
        return get_version(ws, reranker_id, con)


def _with_served_with(config: dict, embedder_id: str) -> dict:
    served = list(config.get("served_with", []))
    return config if embedder_id in served else {**config, "served_with": served + [embedder_id]}


def use_champions(ws):
    """Point `ws.config.models` at the champions (in memory) and return `ws`, so whatever opens
    the retriever from the config (agent, evals, ingest) gets the champion models and index."""
    ws.config.models.embedder, ws.config.models.reranker = champion_specs(ws)
    return ws


def open_with_champions(root: Path | str, overrides: list[str] | None = None):
    """`Workspace.open(...)` with `models.embedder/reranker` pointing at the champions."""
    from rag_agent.workspace import Workspace

    return use_champions(Workspace.open(root, overrides=overrides, create=False))


def slug_versions(embedder_spec: str, reranker_spec: str) -> str:
    """A short folder/run-id-safe name for an (embedder, reranker) pair, e.g.
    'embedder-0002-1a2b3c+none' (version folders are named by version id)."""
    import re

    def short(spec: str) -> str:
        if spec in ("", NO_RERANKER):
            return NO_RERANKER
        if spec.startswith("bundled:"):
            return "base"
        name = Path(spec).name
        return Path(spec).parent.name if name == "model" else name

    return re.sub(r"[^A-Za-z0-9._+-]+", "-", f"{short(embedder_spec)}+{short(reranker_spec)}")


def promotions(ws, kind: str | None = None) -> list[tuple]:
    ensure_base(ws)
    where, params = ("WHERE kind = ?", [check_kind(kind)]) if kind else ("", [])
    with ws.db() as con:
        return con.execute(
            f"SELECT promotion_no, kind, from_id, to_id, action, reason, promoted_at FROM promotions {where} ORDER BY promotion_no", params
        ).fetchall()


# ---- writing ------------------------------------------------------------------------------------
def ensure_base(ws) -> None:
    """Register the base embedder (the configured spec) and the "none" reranker as the first
    champions, once per workspace."""
    from rag_agent.models import embedder_path

    with ws.db() as con:
        have = {k for (k,) in con.execute("SELECT DISTINCT kind FROM model_versions").fetchall()}
        if "embedder" not in have:
            spec = ws.config.models.embedder
            path = embedder_path(spec)
            _insert_base(con, "embedder", "embedder-base", str(path), _content_version(path), {"spec": spec})
        if "reranker" not in have:
            _insert_base(con, "reranker", "reranker-none", NO_RERANKER, None, {"spec": NO_RERANKER})


def _insert_base(con, kind: str, version_id: str, path: str, content_version: str | None, config: dict) -> None:
    with transaction(con):
        con.execute(
            f"INSERT INTO model_versions ({_COLUMNS}) VALUES (?, ?, NULL, ?, ?, ?, ?, '{{}}', 'champion', 'base model', current_timestamp)",
            [version_id, kind, path, content_version, json.dumps(config), json.dumps({"source": "base"})],
        )
        _append_promotion(con, kind, None, version_id, "base", "base model")


def is_complete_model(path: Path) -> bool:
    """A saved transformers/sentence-transformers folder (config.json), or a lexical residual
    reranker (its card and lexical.json: no network weights)."""
    from rag_agent.retrieval.lexical import LEXICAL_FILE
    from rag_agent.retrieval.reranker import RESIDUAL_CARD

    return (path / "config.json").exists() or ((path / RESIDUAL_CARD).exists() and (path / LEXICAL_FILE).exists())


def register_candidate(
    ws,
    kind: str,
    version_id: str,
    parent_id: str | None,
    config: dict,
    trained_on: dict,
    metrics: dict,
    path: Path | None = None,
) -> ModelVersion:
    """Insert a finished model folder as a 'candidate'. The folder must already be complete."""
    ensure_base(ws)
    path = Path(path) if path is not None else version_dir(ws, kind, version_id)
    if not (path.is_dir() and is_complete_model(path)):
        raise ModelError(str(path), f"a complete {kind} folder (config.json + weights, or residual.json + lexical.json)", "train the model before registering it")
    content = _content_version(path) if kind == "embedder" else None
    with ws.db() as con:
        if parent_id is not None:
            get_version(ws, parent_id, con)  # the parent must exist (lineage invariant)
        con.execute(
            f"INSERT INTO model_versions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'candidate', 'trained', current_timestamp)",
            [version_id, check_kind(kind), parent_id, str(path), content, json.dumps(config), json.dumps(trained_on), json.dumps(metrics)],
        )
        return get_version(ws, version_id, con)


def promote(ws, version_id: str, reason: str = "passed the gate", metrics: dict | None = None) -> ModelVersion:
    """Make `version_id` the champion of its kind; the previous champion becomes 'retired'.
    One transaction: readers see either the old champion or the new one."""
    return _switch(ws, version_id, "promote", reason, metrics, previous_status="retired")


def reject(ws, version_id: str, reason: str, metrics: dict | None = None) -> ModelVersion:
    with ws.db() as con:
        version = get_version(ws, version_id, con)
        if version.status == "champion":
            raise ConfigError(version_id, "a non-champion version", "roll back first (`training rollback`)")
        merged = {**version.metrics, **(metrics or {})}
        con.execute(
            "UPDATE model_versions SET status = 'rejected', reason = ?, metrics = ? WHERE version_id = ?",
            [reason, json.dumps(merged), version_id],
        )
        return get_version(ws, version_id, con)


def rollback(ws, kind: str, to: str | None = None, reason: str = "rollback") -> ModelVersion:
    """Restore the champion before the current one (or `to`); the current one becomes 'rejected'."""
    check_kind(kind)
    current = champion(ws, kind)
    if to is None:
        history = [row for row in promotions(ws, kind) if row[3] == current.version_id and row[2] is not None]
        if not history:
            raise ConfigError(f"{kind} champion {current.version_id}", "a champion with a predecessor", "nothing to roll back to")
        to = history[-1][2]
    target = get_version(ws, to)
    if target.kind != kind:
        raise ConfigError(f"--to {to}", f"a {kind} version", f"pick one from `training models --kind {kind}`")
    if target.version_id == current.version_id:
        raise ConfigError(f"--to {to}", "a version other than the current champion", "pick another version")
    return _switch(ws, target.version_id, "rollback", reason, None, previous_status="rejected")


def _switch(ws, version_id: str, action: str, reason: str, metrics: dict | None, previous_status: str) -> ModelVersion:
    ensure_base(ws)
    with ws.db() as con:
        target = get_version(ws, version_id, con)
        if target.status == "champion":
            return target
        if not target.is_none and not Path(target.path).is_dir():
            raise ModelError(target.path, f"the model folder of {version_id}", "the files are gone; pick another version")
        with transaction(con):
            previous = con.execute(
                "SELECT version_id FROM model_versions WHERE kind = ? AND status = 'champion'", [target.kind]
            ).fetchall()
            for (prev_id,) in previous:
                con.execute(
                    "UPDATE model_versions SET status = ?, reason = ? WHERE version_id = ?",
                    [previous_status, f"{action}: replaced by {version_id}", prev_id],
                )
            merged = {**target.metrics, **(metrics or {})}
            config = target.config
            if target.kind == "reranker" and config.get("embedder_version") and action == "promote":
                # Promotion re-binds: the gate judged this reranker on top of the current embedder.
                (embedder_id,) = con.execute("SELECT version_id FROM model_versions WHERE kind = 'embedder' AND status = 'champion'").fetchone()
                config = _with_served_with(config, embedder_id)
            con.execute(
                "UPDATE model_versions SET status = 'champion', reason = ?, metrics = ?, config = ? WHERE version_id = ?",
                [reason, json.dumps(merged), json.dumps(config), version_id],
            )
            _append_promotion(con, target.kind, previous[0][0] if previous else None, version_id, action, reason)
            _before_commit_hook(action)
        log.info("%s %s: champion is now %s", action, target.kind, version_id)
        return get_version(ws, version_id, con)


def _before_commit_hook(action: str) -> None:
    """Nothing in production; tests replace it to simulate a crash inside the switch."""


def _append_promotion(con, kind: str, from_id: str | None, to_id: str, action: str, reason: str) -> None:
    (n,) = con.execute("SELECT coalesce(max(promotion_no), 0) + 1 FROM promotions").fetchone()
    con.execute(
        "INSERT INTO promotions (promotion_no, kind, from_id, to_id, action, reason) VALUES (?, ?, ?, ?, ?, ?)",
        [n, kind, from_id, to_id, action, reason],
    )


def _content_version(path: Path) -> str:
    """The embedder version string the index folders are keyed by (same rule as the embedder)."""
    from rag_agent.retrieval.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(path).version


def _with_db(ws, fn):
    with ws.db() as con:
        return fn(con)


# ---- invariants (checked by tests and `training models --check`) -------------------------------
def check_invariants(ws) -> list[str]:
    """Human-readable violations: not exactly one champion per kind, a parent that does not
    exist, a champion whose folder is missing."""
    problems = []
    versions = {v.version_id: v for v in list_versions(ws)}
    for kind in KINDS:
        champs = [v for v in versions.values() if v.kind == kind and v.status == "champion"]
        if len(champs) != 1:
            problems.append(f"{kind}: {len(champs)} champions")
        for v in champs:
            if not v.is_none and not Path(v.path).is_dir():
                problems.append(f"{v.version_id}: champion folder {v.path} missing")
    for v in versions.values():
        if v.parent_id is not None and v.parent_id not in versions:
            problems.append(f"{v.version_id}: parent {v.parent_id} not registered")
        if v.status not in STATUSES:
            problems.append(f"{v.version_id}: unknown status {v.status}")
    return problems
