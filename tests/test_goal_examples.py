"""A goal's doctest-style examples: found in its text, compared as values, never mistaken."""

from swarm.goal_examples import Example, check_code, examples_in, mismatches, same

GOAL = '''def f(n: int) -> float:
    """ Halve n.
    >>> f(3)
    1.5
    >>> x = 4
    >>> f(x)
    2.0
    >>> f(0)
    0.00
    """
'''


def test_examples_are_the_expression_lines_with_their_expected_output_and_the_statements_between():
    assert examples_in(GOAL) == [Example("f(3)", "1.5"), Example("x = 4", None), Example("f(x)", "2.0"),
                                 Example("f(0)", "0.00")]
    assert examples_in("Reverse 'abc'.") == []


def test_results_compare_as_values_when_they_read_as_literals_else_as_text():
    assert same("0.0", "0.00") and same("'ab'", '"ab"') and same("[1, 2]", "[1,2]")
    assert not same("[1, 3]", "[1, 2]")
    assert same("<object>", "<object>") and not same("<a>", "<b>")


def test_a_check_that_did_not_run_as_planned_reports_nothing():
    examples = examples_in(GOAL)
    assert mismatches(examples, None) == [] and mismatches(examples, ["1.5"]) == []
    assert mismatches(examples, ["1.5", "2.0", "1.0"]) == ["f(0) gave 1.0, but the task says 0.00"]


def test_the_check_code_calls_every_example_after_the_code():
    code = check_code("def f(n):\n    return n / 2\n", examples_in(GOAL))
    assert code.startswith("def f(n):") and "repr(f(3))" in code and "    x = 4" in code and "repr(f(0))" in code


def test_the_functions_a_goals_stub_declares_must_be_defined_by_the_code():
    from swarm.goal_examples import missing_functions

    assert missing_functions(GOAL, "print(f(3))") == ["f"]
    assert missing_functions(GOAL, "def f(n):\n    return n / 2") == []
    assert missing_functions("Reverse 'abc'.", "print('cba')") == []


def test_a_mismatch_of_two_sequences_says_where_they_part():
    from swarm.goal_examples import where_they_differ

    assert where_they_differ("[5, 6, 3, 4, 8, 9, 2]", "[2, 6, 3, 4, 8, 9, 5]") == " (index 0: 5 instead of 2, index 6: 2 instead of 5)"
    assert where_they_differ("[1, 2]", "[1, 2, 3]") == " (length 2 instead of 3)"
    assert where_they_differ("'abc'", "'abd'") == " (index 2: 'c' instead of 'd')"
    assert where_they_differ("3", "4") == ""  # numbers: the values say it all
    assert where_they_differ("'YES'", "'NO'") == ""  # two different words: their lengths say nothing useful
    assert where_they_differ("[1]", "(1,)") == ""  # a list for a tuple: the values say it all


PROSE = '''def simplify(x, n):
    """Whether x * n is a whole number; x and n are fractions written "a/b".

    simplify("1/5", "5/1") = True
    simplify("1/6", "2/1") ==> False
    simplify("7/10", "10/2") == False.
    other("1") = 3
    The result = whatever the product says
    """
'''


def test_examples_stated_in_prose_count_for_the_functions_the_stub_declares():
    from swarm.goal_examples import all_examples, spec_examples

    found = [(e.call, e.expected) for e in spec_examples(PROSE)]
    assert found == [('simplify("1/5", "5/1")', "True"), ('simplify("1/6", "2/1")', "False"),
                     ('simplify("7/10", "10/2")', "False")]  # not other(), not prose with an "="
    assert [e.call for e in all_examples(PROSE)] == [c for c, _ in found]


def test_a_doctest_that_states_its_own_comparison_is_an_example_too():
    from swarm.goal_examples import all_examples

    goal = 'def prod_signs(arr):\n    """\n    >>> prod_signs([1, 2, 2, -4]) == -9\n    >>> prod_signs([]) == None\n    """\n'
    assert [(e.call, e.expected) for e in all_examples(goal)] == [("prod_signs([1, 2, 2, -4])", "-9"),
                                                                  ("prod_signs([])", "None")]


def test_a_module_used_but_never_imported_is_found():
    from swarm.goal_examples import unimported_modules

    allowed = ["math", "re", "collections"]
    assert unimported_modules("def f(x):\n    return math.sqrt(x) + len(re.findall('a', x))\n", allowed) == ["math", "re"]
    assert unimported_modules("import math\ndef f(x):\n    return math.sqrt(x)\n", allowed) == []
    assert unimported_modules("def f(math):\n    return math.sqrt(2)\n", allowed) == []  # a parameter of that name
    assert unimported_modules("from typing import *\ndef f(x):\n    return math.sqrt(x)\n", allowed) == []  # unknowable
    assert unimported_modules("def f(x):\n    return final_answer(x)\n", allowed) == []  # not a module: not ours to say
