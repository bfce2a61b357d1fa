# Resource bomb: a gigabyte of output through print, and straight to file descriptors 1 and 2.
line = "y" * 10**6
for i in range(500):
    print(line)
import os
for i in range(500):
    os.write(1, line.encode())
    os.write(2, line.encode())
