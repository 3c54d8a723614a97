"""The registry resolves names, aliases and lazy targets, and suggests close names for typos."""

from __future__ import annotations

import pytest

from harness.registry import Registry, UnknownNameError


def test_lazy_target_imported_on_first_get() -> None:
    reg: Registry = Registry("thing")
    reg.register_lazy("json-dumps", "json:dumps", aliases=("dumps",))
    import json

    assert reg.get("json-dumps") is json.dumps
    assert reg.get("DUMPS") is json.dumps  # aliases are case-insensitive
    assert reg.canonical("dumps") == "json-dumps"


def test_unknown_name_suggests_closest() -> None:
    reg: Registry = Registry("model")
    reg.register("inceptionxml", object())
    reg.register("syncxml", object())
    with pytest.raises(UnknownNameError) as err:
        reg.get("inceptionxm")
    message = str(err.value)
    assert "Did you mean 'inceptionxml'?" in message
    assert "Known models: inceptionxml, syncxml" in message


def test_duplicate_registration_is_an_error() -> None:
    reg: Registry = Registry("model")
    reg.register("a", 1, aliases=("alpha",))
    with pytest.raises(ValueError, match="already registered"):
        reg.register("ALPHA", 2)


def test_decorator_fills_lazy_placeholder() -> None:
    reg: Registry = Registry("model")
    reg.register_lazy("m", "tests.test_registry:_NOT_THERE")

    @reg.decorator("m")
    class M:
        pass

    assert reg.get("m") is M
