"""PDFs into text: layout, cleaning, reference lists and their entries, the extract stage."""
