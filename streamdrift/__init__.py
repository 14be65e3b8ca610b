"""The `streamdrift` command, above every package: each command is a module here that imports the rest lazily."""
