"""A JSON value that validates against a JSON schema: tool-call arguments and structured outputs.

Covers what function schemas use in practice: type (or a list of types), object properties and required,
additionalProperties, arrays (items, prefixItems, minItems/maxItems, uniqueItems), enum, const, string
length and common formats, numeric bounds and multipleOf, anyOf/oneOf (the first branch), allOf (merged),
and $ref into #/$defs or #/definitions (recursion is cut off by depth). `pattern` is not honoured.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from proxy.simulator.words import WORDS

MAX_DEPTH = 8
_FORMATS = {
    "date": "2024-04-15",
    "date-time": "2024-04-15T08:04:59Z",
    "time": "08:04:59",
    "email": "user@example.com",
    "uri": "https://example.com/item",
    "url": "https://example.com/item",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "ipv4": "192.0.2.1",
    "hostname": "example.com",
}


def value_for(schema: object, rand: random.Random) -> Any:
    """A value valid under `schema`, drawn with `rand` (deterministic given its seed)."""
    root = schema if isinstance(schema, Mapping) else {}
    return _Generator(root, rand).value(root, 0)


class _Generator:
    def __init__(self, root: Mapping[str, Any], rand: random.Random) -> None:
        self.root = root
        self.rand = rand

    def value(self, schema: object, depth: int) -> Any:
        if schema is True or not isinstance(schema, Mapping):
            return self._word()
        schema = self._resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rand.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                branches = [b for b in schema[key] if not (isinstance(b, Mapping) and b.get("type") == "null")]
                return self.value((branches or schema[key])[0], depth + 1)
        kind = self._type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self.rand.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema)

    def _resolve(self, schema: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, Mapping) else None
            merged = {k: v for k, v in schema.items() if k != "$ref"}
            if isinstance(target, Mapping):
                merged = {**target, **merged}
            schema = merged
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for branch in schema["allOf"]:
                if isinstance(branch, Mapping):
                    sub = self._resolve(branch, depth)
                    merged["properties"] = {**merged.get("properties", {}), **sub.get("properties", {})}
                    merged["required"] = [*merged.get("required", []), *sub.get("required", [])]
                    merged.update({k: v for k, v in sub.items() if k not in ("properties", "required")})
            schema = merged
        return schema

    def _type(self, schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        raw_properties = schema.get("properties")
        properties: Mapping[str, Any] = raw_properties if isinstance(raw_properties, Mapping) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        # Past MAX_DEPTH only required properties, so recursive schemas terminate.
        names = list(properties) if depth < MAX_DEPTH else [n for n in properties if n in required]
        result = {name: self.value(properties[name], depth + 1) for name in names}
        for name in required:
            if name not in result:
                extra = schema.get("additionalProperties")
                result[name] = self.value(extra if isinstance(extra, Mapping) else {}, depth + 1)
        return result

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        raw_prefix = schema.get("prefixItems")
        prefix: list[Any] = raw_prefix if isinstance(raw_prefix, list) else []
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, len(prefix), 3)))
        wanted = low if depth >= MAX_DEPTH else max(low, min(high, len(prefix) or self.rand.randint(1, 3)))
        items = [self.value(s, depth + 1) for s in prefix[:wanted]]
        item_schema = schema.get("items", {})
        attempts = 0
        while len(items) < wanted and attempts < 50:
            attempts += 1
            item = self.value(item_schema, depth + 1)
            if schema.get("uniqueItems") and item in items:
                continue
            items.append(item)
        return items

    def _bounds(self, schema: Mapping[str, Any], default_low: float, default_high: float) -> tuple[float, float]:
        low = max(_num(schema, "minimum", -math.inf), _num(schema, "exclusiveMinimum", -math.inf) + 1e-9)
        high = min(_num(schema, "maximum", math.inf), _num(schema, "exclusiveMaximum", math.inf) - 1e-9)
        if math.isinf(low) and math.isinf(high):
            return default_low, default_high
        if math.isinf(low):
            return min(default_low, high - 10), high
        if math.isinf(high):
            return low, max(default_high, low + 10)
        return low, high

    def _integer(self, schema: Mapping[str, Any]) -> int:
        low, high = self._bounds(schema, 1, 100)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            return step * self.rand.randint(first, max(first, last))
        first, last = math.ceil(low), math.floor(high)
        return self.rand.randint(first, max(first, last))

    def _number(self, schema: Mapping[str, Any]) -> float:
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and step > 0 and not isinstance(step, bool):
            low, high = self._bounds(schema, 0, 100)
            first = math.ceil(low / step)
            return float(step * self.rand.randint(first, max(first, math.floor(high / step))))
        low, high = self._bounds(schema, 0, 100)
        value = round(self.rand.uniform(low, high), 2)
        return value if low <= value <= high else low

    def _string(self, schema: Mapping[str, Any]) -> str:
        fmt = schema.get("format")
        text = _FORMATS.get(fmt, "") if isinstance(fmt, str) else ""
        if not text:
            text = " ".join(self._word() for _ in range(self.rand.randint(1, 3)))
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < low:
            text += " " + self._word()
        if isinstance(high, int):
            text = text[:high]
        return text

    def _word(self) -> str:
        return self.rand.choice(WORDS)


def _num(schema: Mapping[str, Any], key: str, default: float) -> float:
    value = schema.get(key)
    # Draft-4 boolean exclusiveMinimum/exclusiveMaximum are ignored: minimum/maximum still bound the value.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)
