"""Settings: the one place that reads ``LITMINE_*`` environment variables and ``litmine.toml``.

Every path litmine writes is derived here, under the data directory. Precedence, highest first:
environment variable, ``litmine.toml`` (in the working directory, or the file named by
``LITMINE_CONFIG``), built-in default. Every default works with nothing set.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from litmine.clock import utcnow
from litmine.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    # A checkout keeps its data beside the code; an installed package uses the working directory.
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / "data"
    return Path.cwd() / "data"


@dataclass(frozen=True)
class Settings:
    """Every setting litmine knows; ``describe()`` lists them with their variables and meaning."""

    data_dir: Path = field(default_factory=_default_data_dir)
    db_path: Path | None = None
    survey_dir: Path | None = None
    # arXiv: the API endpoint, the OAI-PMH endpoint, politeness and the nightly query.
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_pdf_url: str = "https://arxiv.org/pdf"
    arxiv_delay_seconds: float = 3.0
    arxiv_timeout_seconds: float = 30.0
    arxiv_retries: int = 4
    arxiv_page_size: int = 100
    arxiv_max_pages: int = 100
    arxiv_categories: tuple[str, ...] = ("cs.LG", "cs.AI", "cs.CV", "cs.CL", "stat.ML")
    arxiv_query: str = ""
    arxiv_lookback_days: int = 7
    feed_max_bytes: int = 32 * 1024 * 1024
    arxiv_now: str = ""
    screening_order: str = "likely"
    scope_target_recall: float = 0.95
    pdf_max_bytes: int = 50 * 1024 * 1024
    pdf_max_pages: int = 300
    extract_timeout_seconds: float = 60.0
    extract_workers: int = 2
    embed_model: str = "all-MiniLM-L6-v2"
    embed_batch_size: int = 64
    llm_backend: str = ""
    llm_model: str = ""
    llm_base_url: str = ""
    llm_api_key: str = field(default="", repr=False)
    llm_threads: int = 0
    task_runner: str = "thread"
    schedule_cron: str = "30 1 * * 1-5"
    schedule_timezone: str = "UTC"
    prefect_api_url: str = "http://127.0.0.1:4200/api"
    flow_retries: int = 2
    flow_retry_delay_seconds: float = 30.0
    db_lock_timeout_seconds: float = 120.0
    query_timeout_seconds: float = 60.0
    backup_keep: int = 3
    reviewer: str = ""

    @property
    def database(self) -> Path:
        return self.db_path or self.data_dir / "litmine.duckdb"

    @property
    def arxiv_spacing_file(self) -> Path:
        """Where every litmine process of this user keeps the time of its last request to arXiv."""
        import tempfile

        return Path(tempfile.gettempdir()) / f"litmine-{os.getuid()}" / "arxiv-last-request"

    @property
    def pdf_dir(self) -> Path:
        return self.data_dir / "pdfs"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def clock(self) -> datetime:
        """Now (UTC, naive), or ``arxiv_now`` where a replay fixes it."""
        if not self.arxiv_now:
            return utcnow()
        try:
            fixed = datetime.fromisoformat(self.arxiv_now)
        except ValueError as exc:
            raise ConfigError(f"arxiv_now must be an ISO date or time such as 2026-07-03, got {self.arxiv_now!r} "
                              "(LITMINE_ARXIV_NOW)") from exc
        return fixed.astimezone(timezone.utc).replace(tzinfo=None) if fixed.tzinfo else fixed

    @property
    def embedders_dir(self) -> Path:
        """Tuned embedding models (``litmine embed-tune``), each in a folder with its provenance."""
        return self.data_dir / "embedders"

    @property
    def digest_dir(self) -> Path:
        return self.data_dir / "digests"

    @property
    def decisions_dir(self) -> Path:
        return self.data_dir / "decisions"

    @property
    def prefect_home(self) -> Path:
        return self.data_dir / ".prefect"

    @property
    def seed_dir(self) -> Path:
        return self.survey_dir or PROJECT_ROOT / "data" / "surveys" / "toward-transparent-ai"


_HELP = {
    "data_dir": "directory holding the database, PDFs, caches and digests",
    "db_path": "the DuckDB file (default: DATA_DIR/litmine.duckdb)",
    "survey_dir": "the survey seed folder (default: data/surveys/toward-transparent-ai)",
    "arxiv_api_url": "arXiv API query endpoint; point it at a mirror or a replay server",
    "arxiv_oai_url": "arXiv OAI-PMH endpoint for bulk backfill",
    "arxiv_pdf_url": "where arXiv PDFs are fetched from: URL + /<id>v<version>",
    "arxiv_delay_seconds": "seconds between requests to arXiv (its terms: at least 3)",
    "arxiv_timeout_seconds": "time limit of every whole request to arXiv (connecting, waiting, and the body)",
    "arxiv_retries": "retries for 429, 5xx, timeouts and empty pages (a host that cannot be reached is not retried)",
    "arxiv_page_size": "results per API page",
    "arxiv_max_pages": "most API pages one query may take; past it the query fails (a server claiming endless results)",
    "arxiv_categories": "comma-separated categories of the nightly query",
    "arxiv_query": "extra terms of the nightly query (default: litmine's interpretability terms; `all`: every new "
                   "paper of the categories, no terms, the scope decision filtering)",
    "scope_target_recall": "share of the in-scope new papers the scope threshold keeps, set out of fold on the "
                           "judged candidates (recall first; `litmine evaluate` reports the precision it costs); in (0, 1]",
    "screening_order": "order of the review queue's unscreened works: likely (most likely in scope first) or "
                       "uncertain (the scope methods' least sure first)",
    "arxiv_lookback_days": "days a first nightly run looks back",
    "feed_max_bytes": "largest answer to one arXiv API or OAI-PMH request, in bytes after decompression; past it "
                      "the request fails (an endless or gzip-bomb feed)",
    "arxiv_now": "the UTC date or time a first run's lookback counts back from (e.g. 2026-07-03, for replays of "
                 "recorded data); empty: the clock",
    "pdf_max_bytes": "largest PDF downloaded, in bytes",
    "pdf_max_pages": "largest PDF extracted, in pages",
    "extract_timeout_seconds": "time limit of one PDF's extraction",
    "extract_workers": "worker processes extracting PDFs side by side (each killed at the time limit)",
    "embed_model": "sentence-transformers model name or path; options after it: `+int8` (int8 ONNX in onnxruntime), "
                   "`+seq128` (at most 128 word pieces), e.g. `all-MiniLM-L6-v2+int8+seq128`: 3x the default's "
                   "speed for a year's backfill, 0.05 less scope F1 (Benchmarks); a database keeps the model it was "
                   "filled with",
    "embed_batch_size": "texts per embedding batch",
    "llm_backend": "LLM backend name (`litmine llm list`); empty: no LLM classifier",
    "llm_model": "LLM model name, or a GGUF path for the llama-cpp backend",
    "llm_base_url": "base URL of an OpenAI-compatible endpoint",
    "llm_api_key": "API key of that endpoint (never logged or stored)",
    "llm_threads": "CPU threads of the in-process llama-cpp backend; 0: the machine's cores (lower it on a shared "
                   "machine)",
    "task_runner": "Prefect task runner: thread or dask",
    "schedule_cron": "cron of the nightly run",
    "schedule_timezone": "time zone of that cron",
    "prefect_api_url": "Prefect server API that `litmine schedule` registers with (`prefect server start`)",
    "flow_retries": "times the nightly flow retries a network stage that failed as a whole",
    "flow_retry_delay_seconds": "first delay before such a retry; it doubles each time",
    "db_lock_timeout_seconds": "how long a writer waits for another process's database lock",
    "query_timeout_seconds": "time limit of one `litmine query` (keep it under the lock timeout: a reader blocks writers)",
    "backup_keep": "copies of the database kept in backups/ beside it (`litmine backup`, and one before each "
                   "`litmine run`); 0: none",
    "reviewer": "the reviewer's name recorded with each review decision (default: user@host)",
}


def _coerce(name: str, raw: object, typ: str, source: str) -> object:
    try:
        if typ.startswith("tuple"):
            if isinstance(raw, (list, tuple)):
                return tuple(str(x).strip() for x in raw)
            return tuple(x.strip() for x in str(raw).split(",") if x.strip())
        if typ.startswith("Path"):
            return Path(str(raw)).expanduser() if str(raw) else None
        if typ == "float":
            return float(raw)
        if typ == "int":
            return int(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be {typ.split(' ')[0]}, got {raw!r} ({source})") from exc


def load_settings(env: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from the environment and ``litmine.toml``; ``overrides`` win over both."""
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    config_file = Path(env.get("LITMINE_CONFIG", "litmine.toml"))
    fields = {f.name: str(f.type) for f in dataclasses.fields(Settings)}
    if config_file.exists():
        try:
            table = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"cannot read {config_file}: {exc}") from exc
        for key, raw in table.get("litmine", table).items():
            if key not in fields:
                raise ConfigError(f"unknown setting {key!r} in {config_file}; known: {', '.join(fields)}")
            values[key] = _coerce(key, raw, fields[key], str(config_file))
    for name, typ in fields.items():
        var = f"LITMINE_{name.upper()}"
        if var in env:
            values[name] = _coerce(name, env[var], typ, var)
    values.update(overrides)
    threads = values.get("llm_threads", 0)
    if not isinstance(threads, int) or threads < 0:
        raise ConfigError(f"LITMINE_LLM_THREADS must be 0 (the machine's cores) or more, got {threads!r}: set it to "
                          "e.g. 2")
    recall = values.get("scope_target_recall", 0.95)
    if not isinstance(recall, (int, float)) or not 0.0 < float(recall) <= 1.0:
        raise ConfigError(f"LITMINE_SCOPE_TARGET_RECALL must be in (0, 1], got {recall!r}: set it to e.g. 0.95")
    return Settings(**values)


def prefect_environment(settings: Settings, env: dict[str, str] | None = None,
                        log_level: str | None = None) -> dict[str, str]:
    """Set Prefect's variables litmine relies on, unless the user set them; returns what it set.

    No telemetry (``DO_NOT_TRACK``, server analytics off) and a project-local ``PREFECT_HOME``, so
    litmine's Prefect state lives beside its data. Call before importing ``prefect``.
    """
    env = os.environ if env is None else env
    wanted = {
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(settings.prefect_home),
        # Prefect's temporary server gets 20 s to start by default; a busy machine needs more.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    if log_level:
        wanted["PREFECT_LOGGING_LEVEL"] = log_level
    added = {k: v for k, v in wanted.items() if k not in env}
    env.update(added)
    return added


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for the README and ``litmine config``."""
    defaults = Settings()
    rows = []
    for f in dataclasses.fields(Settings):
        value = getattr(defaults, f.name)
        if isinstance(value, tuple):
            value = ",".join(value)
        if isinstance(value, Path):
            value = os.path.relpath(value, PROJECT_ROOT) if value.is_relative_to(PROJECT_ROOT) else value
        rows.append((f"LITMINE_{f.name.upper()}", "" if value is None else str(value), _HELP[f.name]))
    return rows
