"""The nightly flow registered with a Prefect server on a cron schedule, and served (`litmine schedule`).

    prefect server start                 # in another terminal; UI at http://127.0.0.1:4200
    litmine schedule                     # register
    litmine schedule --serve             # register, then run the scheduled runs in this process

Each scheduled run starts the flow, which opens its ``pipeline.Run`` (as for `litmine run`).
Settings: LITMINE_SCHEDULE_CRON, LITMINE_SCHEDULE_TIMEZONE, LITMINE_PREFECT_API_URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from litmine.config import Settings, prefect_environment
from litmine.errors import ScheduleError

DEPLOYMENT = "nightly"


@dataclass
class Registration:
    deployment_id: str
    name: str
    cron: str
    timezone: str
    api_url: str
    upcoming: list[datetime] = field(default_factory=list)


def deployment(settings: Settings):
    """The nightly flow as a deployment on ``settings.schedule_cron`` in ``settings.schedule_timezone``."""
    from prefect.schedules import Cron

    from litmine.flows import nightly

    return nightly.build(settings).to_deployment(
        name=DEPLOYMENT,
        schedule=Cron(settings.schedule_cron, timezone=settings.schedule_timezone),
        description="litmine's nightly run: survey, arXiv, PDFs, text, embeddings, classification, digest",
        tags=["litmine"],
    )


def _api(api_url: str):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: api_url})


def check_server(api_url: str) -> None:
    from prefect.client.orchestration import get_client

    with _api(api_url), get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise ScheduleError(
            f"no Prefect server answers at {api_url}: start one with `prefect server start` "
            f"or set LITMINE_PREFECT_API_URL", api_url=api_url)


def register(settings: Settings, api_url: str | None = None, wait_for_runs: float = 15.0) -> Registration:
    """Create or update the deployment; returns it with the scheduled runs the server has made so far."""
    prefect_environment(settings)
    api_url = api_url or settings.prefect_api_url
    check_server(api_url)
    with _api(api_url):
        dep = deployment(settings)
        deployment_id = dep.apply()
        reg = Registration(str(deployment_id), f"litmine-nightly/{DEPLOYMENT}", settings.schedule_cron,
                           settings.schedule_timezone, api_url)
        deadline = time.monotonic() + wait_for_runs
        while True:
            reg.upcoming = scheduled_runs(deployment_id)
            if reg.upcoming or time.monotonic() >= deadline:
                break
            time.sleep(1.0)
    return reg


def scheduled_runs(deployment_id, limit: int = 5) -> list[datetime]:
    """Start times of the deployment's scheduled (not yet run) flow runs, soonest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.SCHEDULED]))),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=limit,
        )
    return [r.expected_start_time for r in runs]


def serve(settings: Settings, api_url: str | None = None) -> None:
    """Register, then run each scheduled run in this process until interrupted."""
    from prefect import serve as prefect_serve

    prefect_environment(settings)
    api_url = api_url or settings.prefect_api_url
    check_server(api_url)
    with _api(api_url):
        prefect_serve(deployment(settings))

