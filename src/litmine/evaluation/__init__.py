"""How well litmine judges: cross-validation, new papers, learning curves, the printed report."""
