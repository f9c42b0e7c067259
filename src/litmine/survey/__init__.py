"""A survey as data: its seed read and validated, loaded into the store, labels from its LaTeX."""
