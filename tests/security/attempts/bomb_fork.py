# Resource bomb: a fork bomb, bounded to about a thousand processes so that a sandbox without a process
# limit shows up as leftovers rather than taking the host down; every process carries RUN_MARKER.
import subprocess
bomb = """
import os, time
for depth in range(10):  # parent and child both go on: 2**10 processes
    try:
        os.fork()
    except OSError:
        pass
while True:
    time.sleep(1)
"""
subprocess.Popen([PYTHON, "-c", bomb, RUN_MARKER])
import os
for i in range(200):
    try:
        if os.fork() == 0:
            try:
                os.execv(PYTHON, [PYTHON, "-c", "import time\nwhile True: time.sleep(1)", RUN_MARKER])
            finally:
                os._exit(1)
    except OSError as e:
        print("fork refused:", e)
        break
