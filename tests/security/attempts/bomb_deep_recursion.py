# Resource bomb: unbounded recursion, first in the interpreter, then past Python's limit into a C stack overflow.
def down(n):
    return down(n + 1)
try:
    down(0)
except Exception as e:
    print("stopped:", str(e)[-200:])
import sys
sys.setrecursionlimit(10**8)
down(0)
