"""Exceptions shared by the package."""


class UserError(ValueError):
    """Bad input from the user (a path, a file, an argument).

    The CLI prints its message as one line, without a traceback; the message must say
    what was wrong and where.
    """
