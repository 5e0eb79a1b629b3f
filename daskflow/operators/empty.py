"""``EmptyOperator``: a task that does nothing, to shape a DAG."""

from __future__ import annotations

from typing import Any

from daskflow.models.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """Does nothing; useful as a join point or a placeholder."""

    ui_color = "#e8f7e4"

    def execute(self, context: dict[str, Any]) -> None:
        return None
