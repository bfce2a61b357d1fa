# The template (issue 13): outlive the execution. A process that leaves the child's process group
# and session (setsid), ignores the signals it can, and keeps trying the payload afterwards; it must
# die with the child's pid namespace when the execution ends (the harness looks for it by RUN_MARKER).
import subprocess
SLEEPER = r"""
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(sys.argv[1], [sys.argv[1], "-c", sys.argv[2] + "\nimport time\nwhile True:\n    time.sleep(0.2)", sys.argv[3]])
    os._exit(0)
print("left a sleeper behind")
"""
done = subprocess.run([PYTHON, "-c", SLEEPER, PYTHON, PAYLOAD_PY, RUN_MARKER], capture_output=True, text=True, timeout=30)
print(done.stdout, done.stderr[-1500:])
