"""The line-tracking safe YAML loader."""

from __future__ import annotations

import pytest

from streams.rules.yamlsafe import LocatedList, LocatedMap, YamlProblem, load_located


class TestLoadLocated:
    def test_records_lines_of_keys_and_items(self) -> None:
        """Every mapping knows the line of each key, every list the line of each item."""
        data, dups = load_located("a: 1\nb:\n  - x: 1\n    y: 2\n  - z\n")
        assert isinstance(data, LocatedMap)
        assert data.line_of("b") == 2
        assert isinstance(data["b"], LocatedList)
        assert data["b"].item_lines == [3, 5]
        assert data["b"][0].line_of("y") == 4
        assert dups == []

    def test_reports_duplicate_keys(self) -> None:
        """A repeated key is reported with its line instead of silently overwritten."""
        _, dups = load_located("a: 1\nb: 2\na: 3\n")
        assert dups == [(3, "a")]

    def test_yaml_12_booleans(self) -> None:
        """Only true/false are booleans, so `on`, `yes` and `no` stay strings."""
        data, _ = load_located("on: yes\nflag: true\nx: no\n")
        assert data == {"on": "yes", "flag": True, "x": "no"}

    def test_refuses_python_tags(self) -> None:
        """Arbitrary object construction is impossible: the loader is safe."""
        with pytest.raises(YamlProblem) as e:
            load_located("a: !!python/object/apply:os.system ['true']\n")
        assert e.value.line == 1

    def test_syntax_error_has_line(self) -> None:
        """A syntax error names its line."""
        with pytest.raises(YamlProblem) as e:
            load_located("a: 1\nb: [1, 2\nc: 3\n")
        assert e.value.line >= 2

    def test_merge_keys_work(self) -> None:
        """YAML anchors and merge keys behave as in PyYAML's SafeLoader."""
        data, _ = load_located("base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n")
        assert data["d"] == {"x": 1, "y": 2}

    def test_control_character_is_a_problem_with_its_line(self) -> None:
        """Characters YAML forbids are reported with their line, not as a crash."""
        with pytest.raises(YamlProblem) as e:
            load_located("a: 1\nb: \x08\n")
        assert e.value.line == 2
        assert "#x0008" in e.value.message
