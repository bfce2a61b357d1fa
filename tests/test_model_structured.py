"""Finding JSON in model replies, and checking it against a schema (pure functions, no server)."""

import pytest

from swarm.model import extract_json, validate
from swarm.model.structured import parse_structured, repair_request


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2, 3]\n", [1, 2, 3]),
        ('"just a string"', "just a string"),
        ('Here you go:\n```json\n{"a": 1}\n```\nAnything else?', {"a": 1}),
        ('```\n{"a": 2}\n```', {"a": 2}),
        ('```JSON\n[{"b": null}]\n```', [{"b": None}]),
        ('```python\nx = {1: 2}\n```\nand the answer:\n```json\n{"ok": true}\n```', {"ok": True}),
        ('Sure! The plan is {"steps": ["a", "b"]} as requested.', {"steps": ["a", "b"]}),
        ('The list: [1, [2, 3]] done', [1, [2, 3]]),
        ('Note {"text": "braces } and ] in strings", "q": "say \\"hi\\" {"} trailing', {"text": "braces } and ] in strings", "q": 'say "hi" {'}),
        ("prose {not json} then {\"real\": 1}", {"real": 1}),
        ('```json {"inline": 1}```', {"inline": 1}),
        ('{"outer": {"inner": [1, {"deep": "x"}]}} and more {"second": 2}', {"outer": {"inner": [1, {"deep": "x"}]}}),
        ('```json\n{"a": 1,}\n```', {"a": 1}),
        ('{"a": 1, "b": [1, 2,],\n}', {"a": 1, "b": [1, 2]}),
        ('{"s": "commas ,] and ,} stay", "t": [",",],}', {"s": "commas ,] and ,} stay", "t": [","]}),
        ("{'a': 1}", {"a": 1}),
        ("Result: {'name': 'it\\'s', 'ok': True, 'none': None, 'pair': (1, 2.5), 'nested': [{'x': False}],}",
         {"name": "it's", "ok": True, "none": None, "pair": [1, 2.5], "nested": [{"x": False}]}),
        ("{'quote': 'say \"hi\" }'} then", {"quote": 'say "hi" }'}),
    ],
)
def test_extract_json_finds_the_json_in_common_reply_shapes(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("no json here at all", "no JSON object or array"),
        ('{"a": 1', "never closed"),
        ('```json\n{"a": 1,, "b"}\n```', "block does not parse"),
        ("{1: 2}", "does not parse"),  # a Python dict, but no JSON object: keys must be strings
        ("{'a', 'b'}", "does not parse"),  # a Python set
        ("{'a': __import__('os').getcwd()}", "does not parse"),  # literal_eval never calls anything
        ("{'x': 1e999}", "does not parse"),  # a Python float (inf), but no JSON number
    ],
)
def test_extract_json_says_why_it_found_nothing(text, reason):
    with pytest.raises(ValueError, match=reason):
        extract_json(text)


PLAN = {
    "type": "object",
    "required": ["title", "steps"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string"},
        "priority": {"type": ["integer", "null"], "minimum": 0},
        "kind": {"enum": ["code", "research"]},
        "steps": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["do"]}},
    },
}


def test_validate_accepts_data_matching_the_schema():
    assert validate({"title": "t", "priority": None, "kind": "code", "steps": [{"do": "x"}]}, PLAN) == []


def test_validate_reports_each_problem_with_its_path():
    problems = validate({"title": 3, "priority": True, "kind": "art", "steps": [{"nope": 1}], "extra": 1}, PLAN)
    assert "$.title: expected string, got integer" in problems
    assert "$.priority: expected integer or null, got boolean" in problems
    assert any(p.startswith("$.kind: 'art' is not one of") for p in problems)
    assert "$.steps[0]: missing required property 'do'" in problems
    assert any(p.startswith("$: unexpected property 'extra'") for p in problems)


def test_validate_reports_missing_required_and_wrong_top_level_type():
    assert validate({}, PLAN) == ["$: missing required property 'title'", "$: missing required property 'steps'"]
    assert validate([1], PLAN) == ["$: expected object, got array"]


def test_validate_integer_accepts_whole_floats_but_not_booleans():
    assert validate(3.0, {"type": "integer"}) == []
    assert validate(3.5, {"type": "integer"}) != []
    assert validate(False, {"type": "number"}) != []


def test_parse_structured_combines_extraction_and_validation():
    assert parse_structured('ok: {"title": "t", "steps": [{"do": 1}]}', PLAN)["title"] == "t"
    with pytest.raises(ValueError, match=r"does not match the schema: \$: missing required property 'steps'"):
        parse_structured('{"title": "t"}', PLAN)


def test_parse_structured_takes_a_later_block_that_fits_the_schema():
    reply = ('First try:\n```json\n{"title": "t"}\n```\nBetter:\n```json\n'
             '{"title": "t", "steps": [{"do": "x"}]}\n```')
    assert parse_structured(reply, PLAN) == {"title": "t", "steps": [{"do": "x"}]}
    assert extract_json(reply) == {"title": "t"}  # without a schema the first value wins


def test_parse_structured_names_the_first_values_problem_when_none_fits():
    reply = '{"title": "t"} or {"steps": []}'
    with pytest.raises(ValueError, match=r"missing required property 'steps'"):
        parse_structured(reply, PLAN)


def test_repair_request_names_the_problem_and_the_schema():
    message = repair_request("the reply is not JSON", {"type": "object"})
    assert "the reply is not JSON" in message
    assert '{"type": "object"}' in message


def test_validate_knows_the_whole_of_json_schema_not_a_subset():
    # Model-written schemas use $ref, pattern and oneOf: a subset validator passed them silently.
    schema = {"$defs": {"day": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
              "type": "object", "properties": {"when": {"$ref": "#/$defs/day"},
                                               "n": {"oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]}}}
    assert validate({"when": "2026-11-27", "n": 3}, schema) == []
    problems = validate({"when": "tomorrow", "n": 2.5}, schema)
    assert any(p.startswith("$.when: 'tomorrow' does not match") for p in problems)
    assert any(p.startswith("$.n: matches none of oneOf (") for p in problems)


def test_a_schema_that_is_itself_invalid_is_one_clear_problem():
    [problem] = validate({"a": 1}, {"type": "objekt"})
    assert "the schema itself is invalid" in problem and "fix the script's input_schema" in problem
