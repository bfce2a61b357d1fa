# Resource bomb: fill the disk from the workspace, in 64 MB writes; past 4 GB there is no file size limit.
import os
fd = os.open("fill.bin", os.O_WRONLY | os.O_CREAT)
block = b"z" * 2**26
written = 0
for i in range(64):
    written += os.write(fd, block)
os.close(fd)
print(ESCAPED + "wrote %d bytes" % written)
