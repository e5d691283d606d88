"""The series a PromQL expression (or a Grafana query) reads, by name, with the label names it uses.

Not a PromQL parser: a tokenizer that is exact for what dashboards and rule files write. It removes
string literals, range and subquery brackets, Grafana variables, durations and numbers, reads each selector
`name{matchers}`, and keeps the identifiers left that are neither a function or aggregation (an
identifier followed by `(`), nor a keyword, nor a label list of `by`/`without`/`on`/`ignoring`/
`group_left`/`group_right`. Grafana's `label_values(metric, label)` names `metric`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                      "bool", "offset", "atan2", "inf", "nan"})
_IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$__[a-zA-Z_]+|\$[a-zA-Z_][a-zA-Z0-9_]*")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_DURATION = re.compile(r"(?<![a-zA-Z0-9_:.])(?:[0-9]+(?:ms|[smhdwy]))+(?![a-zA-Z0-9_:])")
_NUMBER = re.compile(r"(?<![a-zA-Z0-9_:])(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)")
_SELECTOR = re.compile(rf"({_IDENT})?\s*\{{([^}}]*)\}}")
_MATCHER = re.compile(rf"({_IDENT})\s*(?:=~|!~|!=|=)\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')")
_NAME_TOKEN = re.compile(rf"(?<![a-zA-Z0-9_:.]){_IDENT}")
_LABEL_VALUES = re.compile(rf"^\s*label_values\(\s*(.*?)\s*(?:,\s*({_IDENT})\s*)?\)\s*$")


@dataclass
class Reads:
    """What an expression reads: series names, and for each name the label names matched on it."""

    names: set[str] = field(default_factory=set)
    labels: dict[str, set[str]] = field(default_factory=dict)


def reads(expression: str) -> Reads:
    found = Reads()
    label_values = _LABEL_VALUES.match(expression)
    if label_values:
        inner = reads(label_values.group(1))
        if label_values.group(2):
            for name in inner.names:
                inner.labels.setdefault(name, set()).add(label_values.group(2))
        return inner
    text = _GRAFANA_VARIABLE.sub("5m", expression)
    for selector in _SELECTOR.finditer(text):
        matchers = dict((label, value) for label, value in _MATCHER.findall(selector.group(2)))
        name = selector.group(1)
        if name is None and "__name__" in matchers:
            name = matchers["__name__"].strip("\"'")
        if name is None or name in KEYWORDS:
            continue
        found.names.add(name)
        found.labels.setdefault(name, set()).update(label for label in matchers if label != "__name__")
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text)
    text = _STRING.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _DURATION.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    for token in _NAME_TOKEN.finditer(text):
        name = token.group(0)
        if name in KEYWORDS or re.match(r"\s*\(", text[token.end():]):
            continue
        found.names.add(name)
        found.labels.setdefault(name, set())
    return found
