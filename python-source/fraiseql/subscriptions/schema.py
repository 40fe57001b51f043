"""A GraphQL schema (SDL) generated from the subscription resolvers' annotations.

Output types come from a resolver's return annotation; arguments from its keyword-only
parameters (except ``context``). Python types map as follows:

==============================  =====================================================
``int``, ``float``, ``str``,     ``Int``, ``Float``, ``String``, ``Boolean``
``bool``
``ID`` (this module)             ``ID``
``datetime``, ``date``,          the custom scalars ``DateTime``, ``Date``, ``Time``,
``time``, ``UUID``, ``Decimal``  ``UUID``, ``Decimal`` (sent as their standard text)
an ``Enum`` subclass             an enum of its member names
a dataclass or a ``TypedDict``   an object type (an input type ``<Name>Input`` as an
                                 argument), fields from its annotations
``list[X]``, ``Sequence[X]``     ``[X]``
``X | None``, ``Optional[X]``    a nullable ``X``; every other type is non-null
``dict``, ``Any``                the custom scalar ``JSON``
==============================  =====================================================
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import decimal
import enum
import inspect
import json
import types
import uuid
from collections.abc import Callable, Iterable
from typing import Annotated, Any, NewType, Union, get_args, get_origin, get_type_hints

from typing_extensions import NotRequired, Required, is_typeddict

from fraiseql.subscriptions.errors import ConfigurationError

__all__ = ["ID", "SchemaBuilder", "build_schema_sdl"]

#: Annotate a field or argument as a GraphQL ``ID``.
ID = NewType("ID", str)

_SCALARS: dict[object, str] = {
    int: "Int",
    float: "Float",
    str: "String",
    bool: "Boolean",
    ID: "ID",
    datetime.datetime: "DateTime",
    datetime.date: "Date",
    datetime.time: "Time",
    uuid.UUID: "UUID",
    decimal.Decimal: "Decimal",
    dict: "JSON",
    Any: "JSON",
}
_CUSTOM_SCALARS = {
    "DateTime": "An ISO 8601 date and time.",
    "Date": "An ISO 8601 date.",
    "Time": "An ISO 8601 time.",
    "UUID": "A UUID in its standard text form.",
    "Decimal": "A decimal number in its text form (exact).",
    "JSON": "Any JSON value.",
}


class SchemaBuilder:
    """Collects the types reachable from the subscription fields and prints them as SDL."""

    def __init__(self) -> None:
        self._definitions: dict[str, str] = {}
        self._owners: dict[str, object] = {}
        self._scalars: set[str] = set()

    def subscription_field(self, name: str, resolver: Callable[..., Any]) -> str:
        """The SDL of one ``Subscription`` field resolved by ``resolver``."""
        hints = _hints(resolver, f"the resolver of {name!r}")
        if "return" not in hints:
            raise ConfigurationError(f"the resolver of {name!r} has no return annotation for the schema")
        arguments = []
        for parameter in inspect.signature(resolver).parameters.values():
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or parameter.name == "context":
                continue
            if parameter.name not in hints:
                raise ConfigurationError(f"argument {parameter.name!r} of {name!r} has no annotation")
            argument = f"{parameter.name}: {self.type_ref(hints[parameter.name], input_type=True)}"
            if parameter.default is not inspect.Parameter.empty:
                argument += f" = {_literal(parameter.default)}"
            arguments.append(argument)
        signature = f"({', '.join(arguments)})" if arguments else ""
        return f"  {name}{signature}: {self.type_ref(hints['return'], input_type=False)}"

    def type_ref(self, annotation: object, *, input_type: bool) -> str:
        """The GraphQL type reference for a Python annotation (non-null unless optional)."""
        inner, optional = _unwrap_optional(annotation)
        reference = self._named_or_list(inner, input_type=input_type)
        return reference if optional else reference + "!"

    def _named_or_list(self, annotation: object, *, input_type: bool) -> str:
        origin = get_origin(annotation)
        if origin in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable):
            arguments = get_args(annotation)
            item = arguments[0] if arguments else Any
            return f"[{self.type_ref(item, input_type=input_type)}]"
        if origin is dict:
            annotation = dict
        if annotation in _SCALARS:
            scalar = _SCALARS[annotation]
            if scalar in _CUSTOM_SCALARS:
                self._scalars.add(scalar)
            return scalar
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return self._enum(annotation)
        if isinstance(annotation, type) and (
            dataclasses.is_dataclass(annotation) or is_typeddict(annotation)
        ):
            return self._object(annotation, input_type=input_type)
        raise ConfigurationError(f"cannot map {annotation!r} to a GraphQL type")

    def _claim(self, name: str, owner: object) -> bool:
        """True when ``name`` still has to be defined; refuses two classes with one name."""
        if name in self._owners:
            if self._owners[name] != owner:
                raise ConfigurationError(f"two different types are both named {name!r} in the schema")
            return False
        self._owners[name] = owner
        return True

    def _enum(self, enum_type: type[enum.Enum]) -> str:
        name = enum_type.__name__
        if self._claim(name, enum_type):
            values = "\n".join(f"  {member.name}" for member in enum_type)
            self._definitions[name] = f"enum {name} {{\n{values}\n}}"
        return name

    def _object(self, cls: type, *, input_type: bool) -> str:
        name = cls.__name__ + ("Input" if input_type else "")
        if not self._claim(name, (cls, input_type)):
            return name
        self._definitions[name] = ""  # reserved first: recursive types refer to themselves
        # With extras: NotRequired[...] stays visible even under postponed annotations.
        hints = _hints(cls, f"type {cls.__name__}", extras=True)
        if dataclasses.is_dataclass(cls):
            names: Iterable[str] = [field.name for field in dataclasses.fields(cls)]
        else:
            names = list(hints)
        lines = []
        for field_name in names:
            annotation = hints[field_name]
            if get_origin(annotation) is Annotated:
                annotation = get_args(annotation)[0]
            origin = get_origin(annotation)
            if origin is NotRequired:
                annotation = Union[get_args(annotation)[0], None]  # noqa: UP007 - runtime construction
            elif origin is Required:
                annotation = get_args(annotation)[0]
            elif is_typeddict(cls) and field_name not in getattr(cls, "__required_keys__", names):
                annotation = Union[annotation, None]  # noqa: UP007 - runtime construction
            lines.append(f"  {field_name}: {self.type_ref(annotation, input_type=input_type)}")
        keyword = "input" if input_type else "type"
        self._definitions[name] = f"{keyword} {name} {{\n" + "\n".join(lines) + "\n}"
        return name

    def sdl(self, subscription_fields: list[str]) -> str:
        scalars = [f'"{_CUSTOM_SCALARS[name]}"\nscalar {name}' for name in sorted(self._scalars)]
        query = (
            '"""This schema serves subscriptions only; GraphQL requires a query root."""\n'
            "type Query {\n  _subscriptionsOnly: Boolean\n}"
        )
        subscription = "type Subscription {\n" + "\n".join(subscription_fields) + "\n}"
        return "\n\n".join([query, subscription, *self._definitions.values(), *scalars]) + "\n"


def build_schema_sdl(fields: dict[str, Callable[..., Any]]) -> str:
    """The SDL of a schema whose ``Subscription`` fields are resolved by ``fields``."""
    builder = SchemaBuilder()
    lines = [builder.subscription_field(name, resolver) for name, resolver in fields.items()]
    return builder.sdl(lines)


def _hints(target: object, what: str, *, extras: bool = False) -> dict[str, Any]:
    try:
        return get_type_hints(target, include_extras=extras)
    except Exception as error:
        raise ConfigurationError(f"cannot read the annotations of {what}: {error}") from error


def _unwrap_optional(annotation: object) -> tuple[object, bool]:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        members = [member for member in get_args(annotation) if member is not type(None)]
        if len(members) == 1:
            return members[0], len(members) != len(get_args(annotation))
        raise ConfigurationError(f"unions of several types are not supported in annotations: {annotation!r}")
    return annotation, False


def _literal(value: object) -> str:
    """A GraphQL literal for an argument default."""
    if isinstance(value, enum.Enum):
        return value.name
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    raise ConfigurationError(f"cannot write the default value {value!r} in GraphQL")
