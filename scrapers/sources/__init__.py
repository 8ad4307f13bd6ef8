"""Sources: pages, feeds and APIs checked on schedules; the items they yield, each once, with revisions."""
