"""How ``HttpOperator(pagination_function=...)`` builds the next request.

Airflow's rule: after each response the operator calls
``pagination_function(response)``. A falsy answer (``None``, ``{}``) ends the
paging; otherwise it is a dict with any of ``endpoint``, ``data``,
``headers`` and ``extra_options``, laid over the operator's own arguments
(never over the previous page's): dicts merge key by key (recursively, the
page's keys winning), anything else replaces. Kept pure so the rule is tested
without a server.
"""

from __future__ import annotations

from typing import Any

#: The keys a pagination function may return.
PAGE_KEYS = ("endpoint", "data", "headers", "extra_options")


def merge_dicts(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on it, nested dicts merged; neither is changed.

    >>> merge_dicts({"a": 1, "q": {"x": 1, "y": 2}}, {"q": {"y": 3}, "b": [1]})
    {'a': 1, 'q': {'x': 1, 'y': 3}, 'b': [1]}
    """
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def next_request(first: dict[str, Any], page: dict[str, Any]) -> dict[str, Any]:
    """The arguments of the next request: ``page`` (a pagination function's answer)
    over ``first`` (the operator's ``endpoint``, ``data``, ``headers``,
    ``extra_options``).

    >>> first = {"endpoint": "items", "data": {"limit": 2}, "headers": {"A": "1"},
    ...          "extra_options": {}}
    >>> next_request(first, {"data": {"cursor": "c2"}})["data"]
    {'limit': 2, 'cursor': 'c2'}
    >>> next_request(first, {"endpoint": "items?page=2", "data": "raw"})["endpoint"]
    'items?page=2'
    """
    unknown = sorted(set(page) - set(PAGE_KEYS))
    if unknown:
        raise ValueError(f"pagination_function returned unknown keys {unknown}; it may "
                         f"return {', '.join(PAGE_KEYS)}")
    data = page.get("data")
    if isinstance(first.get("data"), dict) and isinstance(data, dict):
        data = merge_dicts(first["data"], data)
    else:
        data = data or first.get("data")
    return {
        "endpoint": page.get("endpoint") or first.get("endpoint"),
        "data": data,
        "headers": merge_dicts(first.get("headers") or {}, page.get("headers") or {}),
        "extra_options": merge_dicts(first.get("extra_options") or {},
                                     page.get("extra_options") or {}),
    }
