"""Where the cores went: a split process's descendants are reported one by one, another's add up to it."""

import subprocess
import sys

from bench.loadgen.platform import cpu_seconds

# A parent that starts a child; the child burns 0.3 s of CPU, says so, and waits for its stdin to close.
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdin=subprocess.PIPE)
print(child.pid, flush=True)
sys.stdin.read()
child.stdin.close()
child.wait()
"""
CHILD = """
import sys, time
while time.process_time() < 0.3:
    pass
print("busy", flush=True)
sys.stdin.read()
"""


def _family() -> tuple[subprocess.Popen[str], int]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert parent.stdout.readline() == "busy\n"  # the child's own line, through the inherited stdout
    return parent, child


def test_a_split_process_reports_each_descendant_and_another_adds_them_up() -> None:
    split_parent, split_child = _family()
    summed_parent, summed_child = _family()
    try:
        seconds = cpu_seconds({"gateway": split_parent.pid, "postgres": summed_parent.pid})
    finally:
        for parent in (split_parent, summed_parent):
            parent.communicate("")
    # The kernel counts CPU time in clock ticks (10 ms): 0.3 s of work reads as a little less or more.
    assert seconds[f"gateway[{split_child}]"] >= 0.25
    assert seconds["gateway"] < seconds[f"gateway[{split_child}]"]  # the parent only started it
    assert seconds["postgres"] >= 0.25  # its child's time included
    assert not any(name.startswith("postgres[") for name in seconds)
    assert f"gateway[{summed_child}]" not in seconds


def test_a_process_that_is_gone_is_left_out() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu_seconds({"gone": gone.pid}) == {}
