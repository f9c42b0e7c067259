"""Named errors. Each carries its context and reads "what happened (where)"; all pickle cleanly."""

from __future__ import annotations


class LitmineError(Exception):
    """Base of every error litmine raises on purpose; the CLI prints it as one line."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.context:
            return self.message
        where = ", ".join(f"{k}={_short(v)}" for k, v in self.context.items())
        return f"{self.message} ({where})"

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.context))


def _short(value: object, limit: int = 160) -> str:
    """A long value (an arXiv query URL runs to 1,000 characters) cut in the middle, keeping its
    start and its end (where a URL's paging parameters are)."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:90]}…{text[-60:]}"


def _rebuild(cls: type[LitmineError], message: str, context: dict) -> LitmineError:
    err = cls.__new__(cls)
    LitmineError.__init__(err, message, **context)
    return err


class RunInterrupted(BaseException):
    """A signal stopped the process while a stage ran (seen as a DuckDB query interrupted by it): the
    run ends ``interrupted`` at once instead of going on with its next stages. Not an ``Exception``,
    so no stage's error handling takes it for one item's failure."""


class ConfigError(LitmineError):
    """A setting is missing or malformed."""


class StoreError(LitmineError):
    """The database cannot be opened, is corrupt, or refused a statement."""


class DatabaseLocked(StoreError):
    """Another process holds the database's write lock for longer than we wait."""


class ReadOnlyViolation(StoreError):
    """``litmine query`` was given a statement that writes or reaches outside the database."""


class QueryTimeout(StoreError):
    """``litmine query`` ran past its time limit and was stopped."""


class SeedError(LitmineError):
    """A survey seed file is missing or malformed; names the file, line and field."""


class FetchError(LitmineError):
    """A request to arXiv or another source failed after its retries."""


class SourceUnreachable(FetchError):
    """A host cannot be reached at all (its name does not resolve, the connection is refused): not retried."""


class ResponseTooLarge(FetchError):
    """An answer is larger than its byte cap (counted after decompression): not retried."""


class UnsafeTempFile(LitmineError):
    """A file under a shared temporary directory, or that directory, is a link or is not ours: not opened."""


class ArxivApiError(FetchError):
    """arXiv answered with its error feed (a malformed id or query); retrying cannot help."""


class InvalidArxivId(LitmineError):
    """A string is not an arXiv identifier of either scheme, or would make an unsafe file name."""


class PdfError(LitmineError):
    """A PDF could not be downloaded or is not a PDF."""


class ExtractError(LitmineError):
    """A PDF could not be turned into text; ``status`` names the kind of failure."""


class ClassifierError(LitmineError):
    """A classifier or LLM backend failed, or is unknown."""


class EmbedError(LitmineError):
    """An embedding model cannot be loaded or returned unusable vectors."""


class LLMError(ClassifierError):
    """An LLM endpoint failed, or answered outside the JSON schema it was given."""


class StageError(LitmineError):
    """A pipeline stage failed as a whole (not one item of it); the run records it and goes on."""


class StageUnreachable(StageError):
    """A network stage failed because its host cannot be reached: not retried, and the run's later
    network stages are not tried."""


class ScheduleError(LitmineError):
    """The nightly schedule could not be registered with the Prefect server."""


class ReviewError(LitmineError):
    """A review decision names an unknown work or label, or an unknown decision."""


class LatexError(LitmineError):
    """A LaTeX e-print cannot be read, or its labels cannot be applied to a survey."""
