"""Names of DAGs, tasks, groups and pools: always plain ``str``.

A name may arrive as a ``str`` subclass, e.g. an enum member
(``task_id=TriggerRule.ALL_SUCCESS``, as one of Airflow's own example DAGs
writes). Such a value breaks everywhere a name leaves Python: Dask's event
stream (msgpack) refuses it, SQL drivers may adapt it oddly, and its
``str()`` may be ``"TriggerRule.ALL_SUCCESS"`` rather than the text it
holds. Every name is therefore reduced to the plain string of its
characters as soon as the model receives it.

>>> from enum import Enum
>>> class Rule(str, Enum):
...     ALL = "all_success"
>>> plain(Rule.ALL), type(plain(Rule.ALL)).__name__
('all_success', 'str')
>>> plain(3)
3
"""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """``value`` as a plain ``str`` if it is a ``str`` subclass; anything else unchanged.

    Non-strings pass through so that the caller's validation can name them.
    """
    if isinstance(value, str) and type(value) is not str:
        return str.__str__(value)
    return value
