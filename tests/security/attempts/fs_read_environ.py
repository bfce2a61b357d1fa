# Environment: the host's variables through os.environ, /proc/self, /proc/1 and every /proc/PID/environ.
import os
print(os.environ.get(SECRET_ENV), os.environ.get(API_KEY_ENV))
print(dict(os.environ))
paths = ["/proc/self/environ", "/proc/1/environ", "/proc/%d/environ" % os.getppid(), "/proc/%d/environ" % HOST_PID]
paths += ["/proc/%s/environ" % p for p in os.listdir("/proc") if p.isdigit()]
for p in paths:
    try:
        fd = os.open(p, os.O_RDONLY)
        print(p, os.read(fd, 1 << 20))
    except Exception as e:
        print(p, e)
