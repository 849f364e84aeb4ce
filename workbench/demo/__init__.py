"""The demo kit's data (issue #9): deterministic, seeded generators, standard library only.

* `stories`: TinyStories-like children's stories with happy or sad endings, and the plain-text
  corpus the demo base model is pretrained on (`write_story_corpus`).
* `tinystories`: the same stories in TinyStoriesInstruct's raw row format, 92% happy / 8% sad
  (`write_tinystories_raw`, `write_tinystories_dirty`), or already parsed
  (`write_story_instructions`), and prompts for measuring ending adherence (`story_prompts`).
* `tasks`: six task kinds with exact answers and a held-out split (`write_tasks`), seed 001.
* `chatml`: a hand-written ChatML-lite set with evaluation prompts and forgetting passages
  (`write_chatml`, `write_chatml_eval`, `write_forgetting`), seed 002.

Same arguments, same bytes: every generator draws from its own `random.Random` seeded with a
string such as ``"stories/0"``, which does not depend on `PYTHONHASHSEED`.
"""

from .chatml import write_chatml, write_chatml_eval, write_forgetting
from .stories import Story, generate_stories, generate_story, write_story_corpus
from .tasks import generate_tasks, split_tasks, write_tasks
from .tinystories import (story_prompts, write_story_instructions, write_tinystories_dirty,
                          write_tinystories_raw)

__all__ = [
    "Story", "generate_stories", "generate_story", "generate_tasks", "split_tasks",
    "story_prompts", "write_chatml", "write_chatml_eval", "write_forgetting",
    "write_story_corpus", "write_story_instructions", "write_tasks", "write_tinystories_dirty",
    "write_tinystories_raw",
]
