# Resource bomb: open files until the limit.
import os
fds = []
for i in range(200000):
    try:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        print("stopped at", len(fds), e)
        break
