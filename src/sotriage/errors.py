"""Exceptions that the command line turns into one clear message and a non-zero exit."""


class SotriageError(Exception):
    """A user-facing error whose message names the value at fault and the fix."""


class InputError(SotriageError):
    """Invalid input data: a missing column, an empty file, an unknown label."""


class MissingArtifactError(SotriageError):
    """A stage needs a file that an earlier stage has not produced yet."""


class ParityError(SotriageError):
    """An exported model disagrees with PyTorch beyond the allowed tolerance."""


def missing_extra(package: str, extra: str) -> SotriageError:
    """Build the error raised when an optional dependency is not installed."""
    return SotriageError(
        f"The optional package '{package}' is not installed. "
        f"Install it with: pip install 'sotriage[{extra}]'"
    )
