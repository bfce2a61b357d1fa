# Processes that try to outlive the call: a new session, a double fork, SIGTERM/SIGHUP ignored.
import subprocess
sleeper = "import signal, time\nfor s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT): signal.signal(s, signal.SIG_IGN)\ntime.sleep(300)"
subprocess.Popen([PYTHON, "-c", sleeper, RUN_MARKER], start_new_session=True)
subprocess.Popen(["/bin/sh", "-c", "trap '' TERM HUP INT; sleep 300; :", RUN_MARKER], start_new_session=True)
import os
if os.fork() == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            os.execv(PYTHON, [PYTHON, "-c", sleeper, RUN_MARKER])
    finally:
        os._exit(0)
"started"
