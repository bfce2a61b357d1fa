# Resource bomb: loops that never end, in interpreted code and in C (sum over a huge range).
import itertools
for i in itertools.count():
    for j in range(10**9):
        pass
