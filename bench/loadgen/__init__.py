"""`make load`: teams submitting within their quotas and viewers following the board live, on this machine.

    python -m bench.loadgen                  # 24 teams / 100 viewers for 60 s, 200 teams / 1,000 viewers for 300 s,
                                             # then the connection storm for 60 s; with 1 and with N gateway processes
    python -m bench.loadgen --quick          # the same steps, 30 s each
    python -m bench.loadgen --steps storm --gateway-processes 1 2 --storm-duration 45 [--keep] [--out DIR]

For each number of gateway processes (`PODIUM_GATEWAY_WORKERS`: 1 and this machine's cores by default) it starts a
platform of its own (`platform.py`: the embedded stack and every service as a process, loopback and free ports
only, stopped by PID at the end, data folder removed unless `--keep`) with a competition of one small PSNR task,
then runs each step on it:

- N new teams (imported through `POST /api/v1/admin/teams`, text/csv), each submitting as the `podium` CLI does
  every 10–20 s — announce, PUT to the presigned URL, complete, read its status every second until scored — then
  reading the board and its history (`teams.py`, one asyncio process with httpx);
- M WebSocket viewers following the task, logged in as those teams (`viewers.py`, a second asyncio process): in the
  first two steps they connect before the teams start; in the storm step they connect within 5 s once the teams
  are submitting (a projector audience, a deadline rush);
- a `GET /health` prober (5/s): the reference, measured under the same load.

It prints, per step and number of gateway processes: requests, errors (a transport error, any non-200 answer, a
submission not scored, a socket lost), API latency p50/p95/p99 with the reference's and their ratio, submissions
scored, time from `complete` to `scored_at`, push latency (from a submission's `scored_at` to each viewer's receipt
of the board message counting it, for the viewers following when it was scored), what the generator itself used
(CPU, event-loop lag) and the share of the machine's busy cores each process used (each gateway process apart);
the storm step's figures side by side (handshakes, first board, API latency while the sockets connect) and each
process's cores over the storm's own seconds (its first connection to its last socket following). The report
and a plot (`load.png`: latency and throughput per step, one line per number of gateway processes) go to
`test-artifacts/load/<start time>/` (`report.py`, `plot.py`).
Targets (the issue): 0 errors, p95 API latency ≤ 500 ms, push p99 ≤ 1 s.
"""
