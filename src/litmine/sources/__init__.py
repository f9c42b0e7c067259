"""Where works come from: the arXiv API, OAI-PMH, PDFs, the survey's references, candidates, and the polite HTTP client they share."""
