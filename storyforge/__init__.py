"""storyforge: turn a long-form story into a narrated, scored, subtitled video with open models."""

__version__ = "0.1.0"
