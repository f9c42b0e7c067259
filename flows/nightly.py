"""litmine's nightly run as a Prefect flow: the entry point of the deployment in ``prefect.yaml`` beside it.

    prefect work-pool create litmine --type process
    cd flows && prefect deploy --all
    prefect worker start --pool litmine

The flow itself, its tasks and its task runner are the package's (``litmine.flows.nightly``); this
file only names it where Prefect looks. docs/operations.md, "Deploying with prefect deploy".
"""

from litmine.flows.nightly import build

# The package's flow `litmine-nightly`, with the task runner LITMINE_TASK_RUNNER names.
nightly = build()

if __name__ == "__main__":  # one run now, in this process: python flows/nightly.py
    nightly()
