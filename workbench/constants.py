"""Names and values several layers share, in one neutral place that imports nothing.

The engine's lowest layers (data, collate, the model) and its highest (the config, the CLI,
the screens) all read these; each list has this one home, so a new choice shows everywhere.
"""

IGNORE_INDEX = -100
"""The label of a position with no loss (PyTorch's cross-entropy default)."""

LOSS_ON = ("response", "all")
"""What the loss covers: the answers (and their end token) only, or every token."""

BATCHERS = ("random", "grouped", "packed")
"""How examples are laid out in micro-batches (see `workbench.collate.plan_batches`)."""

BALANCE_STRATEGIES = ("undersample", "oversample", "ratio")
"""How a label is balanced (see `workbench.data.balance`)."""

SCHEDULES = ("cosine", "linear", "constant")
DTYPES = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cuda", "mps", "cpu")
HEAD_VOCABS = ("full", "data")
