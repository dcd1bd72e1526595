"""Object storage buckets that more than one service uses, named once: submission_service writes `submissions` and
the scorers read them; the scorers write each score's details to `score-details` and submission_service reads
them back for the submission's team (and admins)."""

SUBMISSIONS_BUCKET = "submissions"
DETAILS_BUCKET = "score-details"
# Hosts' scoring programs (a ZIP with score.py per program version, `<task>/<sha256>.zip`): written by
# submission_service when a host puts one, read by cpu_scorer's program pool.
PROGRAMS_BUCKET = "programs"
