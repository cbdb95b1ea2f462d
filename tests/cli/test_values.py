from dataclasses import dataclass

import pytest

from real3d.cli.values import config_from_overrides, parse_seeds
from real3d.core.errors import ConfigError


@dataclass(frozen=True)
class _Cfg:
    radius_m: float = 0.2
    top_m: float | None = 1.5
    cells: int = 3
    name: str = "a"
    on: bool = False
    base_m: float = 0.0


def test_overrides_are_cast_to_the_fields_types():
    c = config_from_overrides(_Cfg, ["radius_m=0.3", "top_m=none", "cells=7", "name=b", "on=yes"], base_m=1.0)
    assert c == _Cfg(radius_m=0.3, top_m=None, cells=7, name="b", on=True, base_m=1.0)
    assert config_from_overrides(_Cfg, ["on=0"]).on is False
    assert config_from_overrides(_Cfg, []) == _Cfg()


@pytest.mark.parametrize("item", ["radius_m", "nope=1"])
def test_bad_overrides_name_the_fields(item):
    with pytest.raises(ConfigError, match=r"KEY=VALUE with KEY one of \['base_m', 'cells'"):
        config_from_overrides(_Cfg, [item])


def test_seeds_with_ranges():
    assert parse_seeds("0..2,7") == [0, 1, 2, 7]
    assert parse_seeds(["0..2", "7"]) == [0, 1, 2, 7]
    assert parse_seeds("0-2,7") == [0, 1, 2, 7] and parse_seeds("2000-2002") == [2000, 2001, 2002]
    assert parse_seeds("100..101") == [100, 101]
    with pytest.raises(ConfigError, match="A..B"):
        parse_seeds("1..x")
