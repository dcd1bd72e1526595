"""What a host's scoring program may import from Podium: `ParticipantVisibleError`.

    from podium_runtime.programs.participant import ParticipantVisibleError

    def score(truth, submission, context):
        if not submission.name.endswith(".csv"):
            raise ParticipantVisibleError("send a CSV file with the columns id and value")

The message of this exception is shown to the participant as it is (so it must hold nothing private); any other
exception fails the submission with "the scoring program failed" and only the host sees the traceback. This module
is bound read-only into the sandbox under the same name, and imports nothing, so a host can test a program
outside Podium by copying this one file.
"""


class ParticipantVisibleError(Exception):
    """A failure whose message the participant may read (what to fix in the submission)."""
