# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_builtins_via_sys): walk frames from
# sys._getframe() up into the host's code, looking for os or __import__ in their globals.
import sys
frame = sys._getframe()
depth = 0
while frame is not None and depth < 60:
    try:
        g = frame.f_globals
        if "os" in g:
            g["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
        g["__builtins__"]["__import__"]("os").posix_spawn(PYTHON, PAYLOAD_ARGV, {})
    except Exception as e:
        print(depth, e)
    frame = frame.f_back
    depth += 1
