"""The sweep's own error (a user's bad input is :class:`balanced.params.ParamError`)."""


class SweepError(RuntimeError):
    """A sweep that could not finish (a point failed, SLURM refused or is missing); the message
    names the points, the logs and what to do."""
