"""Docker plugin: containers of Docker Engine API hosts as state, and tools to act on them (hooks in plugin.py)."""
