"""The demos: `havirt demo` (the agents on one host) and its cluster part, run in the lab."""
