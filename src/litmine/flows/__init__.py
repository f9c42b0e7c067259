"""Prefect as a caller of ``litmine.pipeline.Run``: its flow opens the run and runs each stage as a task.

``nightly``: the flow (one task per stage, retries on the network stages, the CPU-heavy stages'
compute on the task runner). ``deploy``: the flow registered with a Prefect server on a cron
schedule (`litmine schedule`). Import these modules only after ``config.prefect_environment``.
"""
