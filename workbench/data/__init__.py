"""Instruction data: sources, formats, labels, balancing, saving, browsing."""

from .records import Example, Message

__all__ = ["Example", "Message"]
