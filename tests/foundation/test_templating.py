"""chalicelib.templating.render: the one {{variable}} renderer, and each caller's choice for unknown names."""

from __future__ import annotations

from chalicelib.templating import render


def test_known_names_are_filled_with_or_without_inner_spaces():
    assert render("Hi {{name}}, {{ plan.tier }} / {{a-b}}", {"name": "Ada", "plan.tier": "gold", "a-b": 3}) == \
        "Hi Ada, gold / 3"


def test_unknown_and_none_stay_as_written_by_default():
    assert render("{{a}} {{ b }} {{c}}", {"a": 1, "b": "x", "c": None}) == "1 x {{c}}"
    assert render("{{a}}", None) == "{{a}}"


def test_unknown_names_can_be_dropped_for_text_read_aloud():
    assert render("Hello {{name}}{{missing}}!", {"name": "Bo", "missing": None}, missing="empty") == "Hello Bo!"
    assert render("{{count}} items", {"count": 0}, missing="empty") == "0 items"


def test_single_braces_only_when_asked_and_never_inside_double_ones():
    values = {"transcript": "T", "schema": "{}"}
    assert render("{transcript} {{schema}}", values) == "{transcript} {}"
    assert render("{transcript} {{schema}} {other}", values, single_braces=True) == "T {} {other}"


def test_campaign_and_call_callers_keep_their_behaviour():
    from chalicelib.services.calls import fill_variables
    from chalicelib.services.campaigns import render_template

    assert render_template("Call {{name}} about {{topic}}", {"name": "Ada"}) == "Call Ada about "
    config = {"first_message": "Hi {{name}} {{x}}",
              "llm_config": {"messages": [{"role": "system", "content": "For {{name}}"},
                                          {"role": "user", "content": "{{name}}"}]}}
    fill_variables(config, {"name": "Ada"})
    assert config["first_message"] == "Hi Ada {{x}}"
    assert config["llm_config"]["messages"] == [{"role": "system", "content": "For Ada"},
                                                {"role": "user", "content": "{{name}}"}]
