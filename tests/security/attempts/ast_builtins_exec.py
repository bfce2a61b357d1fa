# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_builtins*): import builtins, then
# exec / eval / compile / __import__ / open from it.
import builtins
for name in ("exec", "eval"):
    try:
        builtins.__dict__[name](PAYLOAD_PY)
    except Exception as e:
        print(name, e)
try:
    builtins.exec(PAYLOAD_PY)
except Exception as e:
    print("exec:", e)
try:
    builtins.__import__("os").posix_spawn(PYTHON, PAYLOAD_ARGV, {})
except Exception as e:
    print("__import__:", e)
for p in SECRET_FILES:
    print(builtins.open(p).read())
