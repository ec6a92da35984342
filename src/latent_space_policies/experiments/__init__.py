"""Experiment tooling on top of the method: grids of runs (``lsp sweep``), the Stable-Baselines3
peers, plots and tables (``lsp plot``), and the paper's maze experiment and its diagnostics
(``lsp experiment ...``)."""
