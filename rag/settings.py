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
    rrf_k: float = Field(20.0, description="Reciprocal-rank-fusion constant (tuned, see README).")
    dense_weight: float = Field(2.0, description="Weight of the dense ranking in fusion.")
    bm25_weight: float = Field(1.0, description="Weight of the BM25 ranking in fusion.")
    min_dense_score: float = Field(
        0.40,
        description="Relevance floor: below this cosine similarity of the best paper, decline "
        "(tuned on eval/dev.jsonl, see README).",
    )
    rerank: bool = Field(
        False,
        description="Rerank the fused candidates by their best single sentence (rag/rerank.py; "
        "off by default, see README for what it gains and costs).",
    )
    rerank_candidates: int = Field(20, description="Fused papers the reranker rescores.")
    rerank_weight: float = Field(2.0, description="Weight of the sentence ranking in fusion.")


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
