"""One module per sub-command: `add_arguments(parser)` and `run(args) -> exit code`.

Modules import nothing heavy at import time (torch, datasets, numpy are imported inside
`run`), so `workbench` with no sub-command reaches its first frame fast.
"""
