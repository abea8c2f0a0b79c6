"""The one error type commands raise: printed as one line on stderr, exit status 1."""


class CliError(Exception):
    pass
