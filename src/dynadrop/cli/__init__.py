"""The `dynadrop` command line: thin wrappers that parse arguments, call a part, print."""
