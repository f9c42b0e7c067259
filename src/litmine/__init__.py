"""litmine: keeps a survey of interpretability research current, in one DuckDB file."""

__version__ = "0.1.0"
