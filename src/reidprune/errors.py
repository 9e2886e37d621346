"""The one exception type reidprune raises for problems a user can fix."""


class ReidPruneError(Exception):
    """A user-facing error: the message names the file or value at fault and what to do.

    The CLI prints it as one line (``error: ...``) and exits with status 2; anything
    else that escapes is a bug in reidprune.
    """


class TrainingInterrupted(ReidPruneError):
    """SIGTERM / Ctrl-C arrived during training; a checkpoint was saved and the same command resumes.

    Defined here rather than in ``reidprune.train.loop`` so the CLI can tell it apart (exit
    status 130) without importing torch.
    """
