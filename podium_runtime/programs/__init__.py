"""Host scoring programs (issue 21): a host's own Python scores a task's submissions in a sandbox.

- `pool.ProgramPool.run(program, submission)`: warm workers, one per program version, a fork per job.
- `contracts`: the function contract (`score(truth, submission, context)`) and the Codabench contract
  (`score.py INPUT OUTPUT` writing `scores.json` or `scores.txt`), checked on the runner's side.
- `sandbox`: the bubblewrap command, the limits, and the weaker rlimits-only fallback (a setting, never silent).
- `participant`: the one module a program imports from Podium (`ParticipantVisibleError`).
- `harness`: the worker itself, run inside the sandbox.
"""
