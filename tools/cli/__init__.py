"""The command layer: click commands that parse, call the library, render and pick exit codes."""
