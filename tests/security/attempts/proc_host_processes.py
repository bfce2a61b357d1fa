# Processes: see and signal host processes, read through their /proc/PID/root and cwd, kill the daemon.
import os
import signal
try:
    os.kill(HOST_PID, 0)
    print(ESCAPED + "can signal the host's pytest process")
except Exception as e:
    print("host pid", e)
try:
    os.kill(DAEMON_PID, signal.SIGKILL)
except Exception as e:
    print("daemon", e)
for pid in (HOST_PID, DAEMON_PID, 1, os.getppid()):
    for p in SECRET_FILES:
        try:
            fd = os.open("/proc/%d/root%s" % (pid, p), os.O_RDONLY)
            print(os.read(fd, 4096))
        except Exception as e:
            print(pid, e)
for pid in (HOST_PID, DAEMON_PID):
    try:
        fd = os.open("/proc/%d/cwd" % pid, os.O_RDONLY)
        print(ESCAPED + "opened the cwd of host pid %d: %s" % (pid, os.listdir(fd)[:5]))
    except Exception as e:
        print(pid, "cwd", e)
