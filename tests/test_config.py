"""Config dataclasses: coercion from CLI strings and errors that name the field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import pytest

from stylecap.core import config
from stylecap.core.errors import ConfigError


@dataclass
class Example:
    steps: int = config.field(100, help="optimisation steps")
    lr: float = 0.1
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    layers: Optional[tuple[str, ...]] = None
    weights: list[float] = config.field([1.0, 2.0])
    verbose: bool = False
    init: Optional[Path] = None

    def validate(self):
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")


def test_strings_are_coerced_to_field_types():
    c = config.build(
        Example,
        {
            "steps": "5",
            "lr": "1e-3",
            "optimizer": "adam",
            "layers": "a,b",
            "weights": "0.5, 1.5",
            "verbose": "yes",
            "init": "x.png",
        },
    )
    assert c == Example(5, 1e-3, "adam", ("a", "b"), [0.5, 1.5], True, Path("x.png"))


def test_typed_values_pass_through_and_none_is_accepted():
    c = config.build(Example, {"steps": 7, "layers": None, "init": "none"})
    assert c.steps == 7 and c.layers is None and c.init is None


@pytest.mark.parametrize(
    "values, message",
    [
        ({"steps": "many"}, "option 'steps' is 'many'.*give a number"),
        ({"steps": 2.5}, "whole number"),
        ({"optimizer": "sgd"}, "choose one of 'lbfgs', 'adam'"),
        ({"verbose": "maybe"}, "use true or false"),
        ({"stesp": 3}, "unknown option 'stesp'.*did you mean steps"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"lr": "nan"}, "option 'lr' is 'nan'.*finite"),
        ({"lr": float("inf")}, "option 'lr' is inf.*finite"),
        ({"weights": "1,nan"}, "option 'weights' is 'nan'"),
        ({"steps": "99999999999999999999"}, "out of range"),
        ({"steps": float("inf")}, "give a number"),
        ({"init": 5}, "option 'init' is 5.*give a path"),
        ({"layers": 5}, "option 'layers' is 5.*give a list"),
        ({"verbose": None}, "use true or false"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(values, message):
    with pytest.raises(ConfigError, match=message) as info:
        config.build(Example, values, owner="style backend 'x'")
    assert str(info.value).startswith("style backend 'x': ")


def test_fields_describe_types_defaults_and_help():
    fields = {f.name: f for f in config.fields(Example)}
    assert fields["steps"].default == 100 and fields["steps"].help == "optimisation steps"
    assert fields["optimizer"].type == "'lbfgs' | 'adam'"
    assert fields["layers"].type == "tuple[str] | None"
    assert fields["weights"].default == [1.0, 2.0]


def test_mutable_defaults_are_not_shared():
    a, b = Example(), Example()
    a.weights.append(3.0)
    assert b.weights == [1.0, 2.0]


def test_to_dict_is_json_safe_and_round_trips():
    c = Example(layers=("a",), init=Path("p.png"))
    d = config.to_dict(c)
    assert d["layers"] == ["a"] and d["init"] == "p.png"
    assert config.build(Example, d) == c


def test_dict_fields_take_key_value_pairs():
    @dataclass
    class WithOptions:
        options: dict[str, str] = config.field({})

    assert config.build(WithOptions, {"options": "filters=8, norm=instance"}).options == {
        "filters": "8",
        "norm": "instance",
    }
    assert config.build(WithOptions, {"options": {"filters": 8}}).options == {"filters": 8}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config.build(WithOptions, {"options": "filters"})


def test_parse_assignments():
    assert config.parse_assignments(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="'steps' is not KEY=VALUE"):
        config.parse_assignments(["steps"])


def test_options_are_a_mapping_of_names():
    with pytest.raises(ConfigError, match="must be KEY=VALUE pairs"):
        config.build(Example, ["steps", 3])
    with pytest.raises(ConfigError, match="option name 3"):
        config.build(Example, {3: "x"})


def test_options_that_write_files_are_marked():
    @dataclass
    class Writer:
        out_dir: Optional[Path] = config.field(None, help="where to write", writes=True)
        snapshot_every: int = 0
        size: int = 3

    marked = {f.name: config.writes_files(f) for f in __import__("dataclasses").fields(Writer)}
    assert marked == {"out_dir": True, "snapshot_every": True, "size": False}
