"""Safe YAML loading that remembers where each mapping and key came from.

Error messages must name the file, the line and the key, so the loader keeps the
line of every mapping, sequence and key. It also refuses duplicate keys (PyYAML
silently keeps the last) and reads booleans the YAML 1.2 way: only `true` and
`false`, so a key named `on` or a label value `no` stays a string.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["LocatedList", "LocatedMap", "YamlProblem", "load_located"]


class LocatedMap(dict[Any, Any]):
    """A YAML mapping that knows its own line and the line of each of its keys."""

    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        """The line of `key` if present, else the line of the mapping itself."""
        return self.key_lines.get(key, self.line)


class LocatedList(list[Any]):
    """A YAML sequence that knows its own line and the line of each item."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class YamlProblem(ValueError):
    """The text is not YAML we can read; `line` is 1-based (0 when unknown)."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


class _LineLoader(yaml.SafeLoader):
    """SafeLoader producing LocatedMap/LocatedList and collecting duplicate keys."""

    duplicate_keys: list[tuple[int, str]]

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys = []

    def construct_located_mapping(self, node: yaml.MappingNode) -> LocatedMap:
        self.flatten_mapping(node)  # handles `<<` merge keys like SafeLoader does
        result = LocatedMap()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found unhashable key", key_node.start_mark) from None
            line = key_node.start_mark.line + 1
            if key in result.key_lines:
                self.duplicate_keys.append((line, str(key)))
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_located_sequence(self, node: yaml.SequenceNode) -> LocatedList:
        result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_located_mapping)
_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _LineLoader.construct_located_sequence)

# YAML 1.2 booleans: drop the 1.1 resolver (yes/no/on/off...) and add true/false only.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def _bad_character(text: str, e: yaml.reader.ReaderError) -> YamlProblem:
    line = text[:e.position].count("\n") + 1
    char = e.character if isinstance(e.character, int) else ord(e.character)
    return YamlProblem(line, f"character #x{char:04x} is not allowed in YAML")


def load_located(text: str) -> tuple[Any, list[tuple[int, str]]]:
    """Parse one YAML document safely; returns (data, duplicate keys as (line, key)).

    Raises YamlProblem with the line of the first syntax error.
    """
    try:
        loader = _LineLoader(text)
    except yaml.reader.ReaderError as e:
        raise _bad_character(text, e) from e
    try:
        data = loader.get_single_data()
    except yaml.reader.ReaderError as e:
        raise _bad_character(text, e) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlProblem(line, " ".join(str(x) for x in (e.context, e.problem) if x)) from e
    except yaml.YAMLError as e:
        raise YamlProblem(0, str(e)) from e
    finally:
        loader.dispose()
    return data, loader.duplicate_keys
