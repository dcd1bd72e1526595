"""Object storage buckets that more than one service uses, named once: submission_service writes `submissions` and
the scorers read them; the scorers write each score's details to `score-details` and submission_service reads
them back for the submission's team (and admins)."""

SUBMISSIONS_BUCKET = "submissions"
DETAILS_BUCKET = "score-details"
