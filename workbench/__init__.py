"""SFT Workbench: the engine (data, templates, tokenizers, collation, model, training,
generation, diagnosis) and the CLI. It never imports the Textual UI (`screens`)."""

__version__ = "0.1.0"
