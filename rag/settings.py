"""The one typed settings object, read from PAPERS_* variables and an optional TOML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_config_dir, user_data_dir
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_EMBEDDER = "minilm"


def default_store() -> Path:
    return Path(user_data_dir("papers", appauthor=False)) / "library"


def default_config_file() -> Path:
    return Path(user_config_dir("papers", appauthor=False)) / "config.toml"


class ChunkingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(
        256, description="The embedder's window in word pieces; a chunk with its title fits it."
    )
    overlap_tokens: int = Field(24, description="Tokens shared by neighbouring chunks.")


class ChromaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(
        None, description="A Chroma server to use instead of the embedded store."
    )
    port: int = Field(8000, description="Port of the Chroma server.")
    collection: str | None = Field(
        None,
        description="Name of the Chroma collection. Unset (the default): the store's own, "
        "chosen when the store is made (papers-<library id>; stores made before library ids "
        "keep 'papers'), so libraries sharing a server never share a collection.",
    )


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(5, description="How many papers to retrieve.")
    candidates: int = Field(40, description="Chunks each retriever proposes before fusion.")
    fusion: Literal["convex", "rrf"] = Field(
        "convex",
        description="How the dense and BM25 rankings are fused: 'convex' mixes their z-scored "
        "scores (dense_share), 'rrf' their ranks (rrf_k, dense_weight, bm25_weight). convex won "
        "on every held-out set (nDCG@10, test halves: acronym 0.977 vs rrf 0.774, paraphrase "
        "0.907 vs 0.857, SciFact even ids 0.704 vs 0.691; rag/retrieve.py, README).",
    )
    dense_share: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Convex fusion: the dense z-score's share, BM25's is the rest. 0.6 won on "
        "the tune halves (0.5 / 0.6 / 0.7 nDCG@10: paraphrase 0.917 / 0.935 / 0.932, SciFact "
        "odd ids 0.738 / 0.736 / 0.732).",
    )
    named_dense_share: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="Convex fusion: the dense share for a question naming something (a word "
        "with two capitals: FDEN, CRLNet) that at most three papers use; MiniLM does not know "
        "such names and BM25 finds them. 0.4 won on the tune halves (0.2 / 0.3 / 0.4 / 0.6 "
        "nDCG@10, acronym 0.984 / 0.984 / 1.000 / 0.984, paraphrase 0.932 / 0.932 / 0.932 / "
        "0.935); see rag/retrieve.py.",
    )
    rrf_k: float = Field(20.0, description="Reciprocal-rank-fusion constant (fusion='rrf').")
    dense_weight: float = Field(2.0, description="Weight of the dense ranking (fusion='rrf').")
    bm25_weight: float = Field(1.0, description="Weight of the BM25 ranking (fusion='rrf').")
    floor: bool = Field(
        True,
        description="Decline questions no paper answers (min_relevance); off: always answer "
        "from the closest papers (`papers ask --no-floor`, the chat's settings).",
    )
    min_relevance: float = Field(
        0.30,
        ge=0.0,
        le=1.0,
        description="Decline when the relevance rule (rag/relevance.py: dense cosine, fused "
        "score, idf-weighted term coverage, retriever agreement) gives a lower probability "
        "that the library answers (fitted on the tune halves of eval/questions/ and "
        "dev.jsonl's odd lines; 0.30 is the highest that declines at most 3% of answerable "
        "tune questions, with the text checks of rag/detail.py: 2/99, and 35/36 off-corpus "
        "declined; see README).",
    )
    min_dense_score: float = Field(
        0.40,
        description="Not used since the relevance rule replaced the dense-only floor; kept so "
        "that configs and eval reports that name it still load.",
    )
    rerank: bool = Field(
        False,
        description="Rerank the fused candidates by their best single sentence (rag/rerank.py; "
        "off by default, see README for what it gains and costs).",
    )
    rerank_candidates: int = Field(20, description="Fused papers the reranker rescores.")
    rerank_weight: float = Field(
        2.0,
        description="Weight of the sentence ranking in fusion (tuned with fusion='rrf', whose "
        "scores it adds to; not re-tuned for convex fusion's z-scores).",
    )


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["auto", "ollama", "embedded", "none"] = Field(
        "auto", description="auto: Ollama if a server answers with a chat model, else embedded."
    )
    ollama_host: str | None = Field(
        None, description="Ollama server URL; default OLLAMA_HOST or http://127.0.0.1:11434."
    )
    ollama_model: str | None = Field(
        None, description="Ollama chat model; default: first installed."
    )
    timeout_s: float = Field(120.0, description="Seconds to wait for the model.")
    max_answer_tokens: int = Field(200, description="Longest answer the model may write.")
    temperature: float = Field(0.1, description="Sampling temperature.")
    n_threads: int | None = Field(None, description="Threads for the embedded model.")


class RemoteSettings(BaseModel):
    """Where `papers add` and `ingest --enrich` fetch papers from, and how politely."""

    model_config = ConfigDict(extra="forbid")

    arxiv_url: str = Field(
        "https://export.arxiv.org/api/query",
        description="The arXiv API's query endpoint (a mirror or a stand-in for tests).",
    )
    openalex_url: str = Field(
        "https://api.openalex.org", description="The OpenAlex API's base URL."
    )
    openalex_email: str | None = Field(
        # The short name is what OpenAlex users know; the nested one (and the file) win.
        default_factory=lambda: os.environ.get("PAPERS_OPENALEX_EMAIL") or None,
        description="Your email, sent to OpenAlex to join its polite pool (faster, steadier "
        "answers); env PAPERS_OPENALEX_EMAIL works too.",
    )
    timeout_s: float = Field(
        30.0, gt=0, description="Seconds to wait for a connection or the next bytes."
    )
    retries: int = Field(
        2,
        ge=0,
        description="Times a failed request (HTTP 429 or 5xx, a dropped connection, a timeout) "
        "is tried again before giving up, so 1 + retries tries in all.",
    )
    backoff_s: float = Field(
        2.0,
        ge=0,
        description="Wait before the first retry, doubled before each next one; a longer "
        "Retry-After from the service wins.",
    )
    arxiv_delay_s: float = Field(
        3.0,
        ge=0,
        description="Seconds between arXiv requests. arXiv asks for 3 or more; against "
        "arxiv.org itself a lower value is raised to 3.",
    )


class AnswerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    show_unsupported: bool = Field(
        False,
        description="Keep the model's sentences that no abstract supports in the answer, "
        "marked '(unsupported)', instead of removing them.",
    )
    paper_gap: float = Field(
        0.05,
        description="Quote a paper's abstract only when its best sentence scores within this "
        "of the best paper's (tuned on the 'tune' halves of eval/questions/, see README).",
    )


class Settings(BaseSettings):
    """Everything papers can be told. Env prefix ``PAPERS_``; nested with ``__``."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERS_", env_nested_delimiter="__", extra="forbid", toml_file=None
    )

    store: Path = Field(default_factory=default_store, description="Where the library lives.")
    embedder: str = Field(
        DEFAULT_EMBEDDER,
        description="'minilm' (all-MiniLM-L6-v2, offline) or 'ollama:<model>'.",
    )
    embed_batch_size: int = Field(64, description="Chunks embedded per batch.")
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    remote: RemoteSettings = Field(default_factory=RemoteSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from env and config file, with ``overrides`` (None values ignored) on top."""
        from pydantic import ValidationError

        from rag.errors import ConfigError

        clean = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**clean)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"bad setting {loc}: {first['msg']}") from None

    def ollama_host(self) -> str:
        return self.llm.ollama_host or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"


def _config_path() -> Path | None:
    # The one place that reads the environment for where the config lives.
    explicit = os.environ.get("PAPERS_CONFIG")
    if explicit:
        return Path(explicit)
    path = default_config_file()
    return path if path.exists() else None
