"""One root exception for everything a user can cause, so the CLI can report it cleanly."""


class StreamdriftError(Exception):
    """Root of the errors streamdrift raises on purpose."""


class ConfigError(StreamdriftError):
    """The configuration file is invalid; `errors` holds one (path, message) per problem."""

    def __init__(self, source: str, errors: list[tuple[str, str]]):
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {path}: {message}" for path, message in errors)
        super().__init__(f"{source}: {len(errors)} error(s)\n{lines}")


class BrokerError(StreamdriftError):
    """A Kafka broker could not be started or reached; the message says what to do."""
