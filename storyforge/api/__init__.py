"""storyforge as an HTTP service: a jobs API over the same engine, with a SQLite job store and a worker."""
