"""One stack on the engine: its Automation API workspace (`workspace`), the operations and their
one-line failures (`lifecycle`), the engine's events as progress, its lock files read and judged
(`locks`), and the backend's state files read directly (`backend_state`)."""
