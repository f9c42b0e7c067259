"""Prefect, plugged into ``litmine.pipeline.Run`` as the executor of its stages.

``nightly``: the flow (one task per stage, retries on the network stages, the CPU-heavy stages'
compute on the task runner). ``deploy``: the flow registered with a Prefect server on a cron
schedule (`litmine schedule`). Import these modules only after ``config.prefect_environment``.
"""
