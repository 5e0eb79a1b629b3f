"""The buttons a page shows when dashboard actions are enabled (``actions.py``).

Nothing is shown when they are off. When on, a token field sits next to the
buttons and every click is checked on the server against the configured
token; the store write runs in the dashboard's threads, and the answer (or
the refusal) is written next to the buttons.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from bokeh.layouts import column, row
from bokeh.models import Button, Div, PasswordInput

from daskflow.dashboard import actions, live
from daskflow.dashboard.store_access import dashboard_store
from daskflow.exceptions import DaskflowError
from daskflow.store.store import Store


def _panel(doc: Any, buttons: dict[str, Callable[[Store], str]]) -> Any:
    if not actions.actions_enabled():
        return Div(text="", visible=False)
    token = PasswordInput(placeholder="dashboard token", width=180)
    answer = Div(text="")
    widgets = []
    for label, act in buttons.items():
        button = Button(label=label, width=130)
        button.on_click(_handler(doc, token, answer, act))
        widgets.append(button)
    return column(row(token, *widgets), answer)


def _handler(doc: Any, token: Any, answer: Div, act: Callable[[Store], str]) -> Callable[[], None]:
    def clicked() -> None:
        given = token.value

        def run() -> str:
            actions.authorize(given)
            return act(dashboard_store())

        def show(result: Any) -> None:
            if isinstance(result, DaskflowError):
                answer.text = f'<b style="color:#c00">Refused: {html.escape(str(result))}</b>'
            elif isinstance(result, Exception):
                answer.text = f'<b style="color:#c00">Failed: {html.escape(str(result))}</b>'
            else:
                answer.text = f"<b>Done:</b> {html.escape(result)}"

        answer.text = "<i>working...</i>"
        live.read_then_show(doc, run, show)
    return clicked


def for_dag(doc: Any, dag_id: str) -> Any:
    """Trigger, pause and unpause one DAG."""
    return _panel(doc, {
        "Trigger": lambda store: actions.trigger(store, dag_id),
        "Pause": lambda store: actions.set_paused(store, dag_id, True),
        "Unpause": lambda store: actions.set_paused(store, dag_id, False),
    })


def for_task_instance(doc: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
    """Clear, mark success and mark failed one task instance."""
    key = (dag_id, run_id, task_id, map_index)
    return _panel(doc, {
        "Clear": lambda store: actions.clear(store, *key),
        "Mark success": lambda store: actions.mark(store, *key, "success"),
        "Mark failed": lambda store: actions.mark(store, *key, "failed"),
    })
