"""Putting daskflow's pages into a Dask scheduler's dashboard.

Dask builds its dashboard when the ``Scheduler`` object is made, from the
path table ``distributed.dashboard.scheduler.applications``. So there are
two ways in:

* **before the scheduler exists** (daskflow's embedded ``LocalCluster``):
  :func:`register_before_start` adds the pages to that table, and Dask
  serves them with its own;
* **on a running scheduler** (``dask scheduler --preload daskflow.dashboard``,
  or :class:`DashboardPlugin` registered from a client): :func:`mount_on`
  adds a second Bokeh application for the pages to the scheduler's HTTP
  server, next to Dask's.

Either way :func:`add_navigation` puts one "daskflow" entry in the
navigation bar of every dashboard page, and daskflow's series join the
scheduler's ``/metrics`` (``metrics.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from daskflow.dashboard.layout import NAV_PAGE
from daskflow.dashboard.metrics import install_metrics
from daskflow.dashboard.metrics import uninstall as uninstall_metrics
from daskflow.dashboard.pages import page_documents

logger = logging.getLogger(__name__)


def register_before_start() -> None:
    """Make every scheduler created after this in the process serve daskflow's pages."""
    from distributed.dashboard import scheduler as dask_dashboard

    dask_dashboard.applications.update(page_documents())


def add_navigation(scheduler: Any) -> None:
    """Add the "daskflow" entry to the navigation bar of ``scheduler``'s dashboard.

    Dask computes the bar's pages once per scheduler and every page shares
    that list, so appending to it shows the entry everywhere.
    """
    from distributed.dashboard.scheduler import template_variables

    pages = template_variables(scheduler)["pages"]
    if NAV_PAGE not in pages:
        pages.append(NAV_PAGE)


def _bokeh_applications(scheduler: Any) -> list[Any]:
    http = getattr(scheduler, "http_application", None)
    return [app for app in getattr(http, "applications", []) if hasattr(app, "app_paths")]


def served_paths(scheduler: Any) -> set[str]:
    """The Bokeh page paths ``scheduler``'s dashboard serves now."""
    paths: set[str] = set()
    for app in _bokeh_applications(scheduler):
        paths |= {path.rstrip("/") or "/" for path in app.app_paths}
    return paths


def mount_on(scheduler: Any) -> bool:
    """Serve daskflow's pages from a running scheduler's dashboard; ``False`` if it has none.

    Must run on the scheduler's event loop (a preload's ``dask_setup`` or a
    scheduler plugin's ``start`` do). Pages already served are left alone,
    so mounting twice is harmless.
    """
    from distributed import Scheduler
    from tornado.ioloop import IOLoop

    if not isinstance(scheduler, Scheduler):
        return False  # preloaded into a worker or a nanny: the pages belong to the scheduler
    dask_apps = _bokeh_applications(scheduler)
    if not dask_apps:
        logger.warning("daskflow: the Dask scheduler at %s serves no dashboard (is bokeh "
                       "installed and the dashboard enabled?); daskflow's pages are not mounted",
                       getattr(scheduler, "address", "?"))
        return False
    from distributed.dashboard.core import BokehApplication
    from distributed.dashboard.scheduler import template_variables

    served = served_paths(scheduler)
    documents = {path: fn for path, fn in page_documents().items() if path not in served}
    if documents:
        app = BokehApplication(documents, scheduler, prefix=dask_apps[0].prefix,
                               template_variables=template_variables(scheduler))
        scheduler.http_application.add_application(app)
        app.initialize(IOLoop.current())
        app.start()
    add_navigation(scheduler)
    install_metrics(scheduler)
    return True


class DashboardPlugin(SchedulerPlugin):
    """A scheduler plugin that mounts daskflow's pages when it starts on a scheduler.

    For a scheduler started without the preload::

        client.register_plugin(DashboardPlugin())
    """

    name = "daskflow-dashboard"

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        mount_on(scheduler)

    async def close(self) -> None:
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None:
            uninstall_metrics(scheduler)
