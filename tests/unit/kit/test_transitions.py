"""`kit.transitions`: a table that forgets a status fails when it is built; `check` accepts exactly
the table's moves, raises the domain's error with a readable message otherwise, and refuses values
that are no status at all."""

from __future__ import annotations

from enum import StrEnum

import pytest

from seawall.kit.transitions import Transitions


class Light(StrEnum):
    RED = "red"
    GREEN = "green"
    OFF = "off"


class Refused(Exception):
    pass


LIGHTS = Transitions("a light", Light, {Light.RED: {Light.GREEN, Light.OFF}, Light.GREEN: {Light.RED},
                                        Light.OFF: set()}, error=Refused)


def test_an_allowed_move_returns_the_target() -> None:
    assert LIGHTS.check("red", Light.GREEN) is Light.GREEN


def test_a_move_the_table_does_not_allow_raises_the_given_error() -> None:
    with pytest.raises(Refused, match="^a light cannot go from green to off$"):
        LIGHTS.check("green", Light.OFF)
    with pytest.raises(Refused):
        LIGHTS.check("off", Light.RED)  # a terminal status


def test_an_unknown_current_value_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        LIGHTS.check("blue", Light.RED)


def test_a_table_that_forgets_a_status_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="off"):
        Transitions("a light", Light, {Light.RED: {Light.GREEN}, Light.GREEN: {Light.RED}}, error=Refused)
