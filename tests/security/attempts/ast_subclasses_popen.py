# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_class_via_subclasses): object's
# subclasses down to subprocess.Popen, by loop and by comprehension.
try:
    for cls in ().__class__.__base__.__subclasses__():
        if "Popen" in cls.__class__.__repr__(cls):
            break
    cls(PAYLOAD_ARGV).wait()
except Exception as e:
    print(e)
[c for c in ().__class__.__mro__[1].__subclasses__() if "Popen" in c.__class__.__repr__(c)][0](PAYLOAD_ARGV).wait()
