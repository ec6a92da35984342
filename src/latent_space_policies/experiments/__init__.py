"""Reproductions of the paper's experiments, each one resumable command (``lsp experiment ...``)."""
