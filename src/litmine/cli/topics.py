"""Commands of the topics stage: topics list, topics run, topics accept."""

from __future__ import annotations

import click

from litmine.cli.common import open_store, run_stage


@click.group(invoke_without_command=True)
@click.pass_context
def topics(ctx: click.Context) -> None:
    """Topics of the in-scope works (BERTopic on the stored embeddings): which grow since the survey.

    Without a subcommand, lists the emerging topics of the latest run (as `litmine topics list`).

    \b
    Example:
      litmine topics run
      litmine topics list --all
      litmine topics accept 3
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(topics_list)


@topics.command("list")
@click.option("--all", "all_", is_flag=True, help="Every topic, not only the emerging ones.")
def topics_list(all_: bool) -> None:
    """List the latest run's topics: id, works, works after the survey's date, growth, name, where filed.

    \b
    Example:
      litmine topics list
      litmine query "select * from topic_works where topic_id = 3"
    """
    from litmine.review.topics import latest_topics

    run_id, found = latest_topics(open_store(), emerging_only=not all_)
    if run_id is None:
        click.echo("No topics yet: run `litmine topics run`.")
        return
    found.sort(key=lambda t: (-t["after_survey"], t["topic_id"]))
    click.echo(f"run {run_id}: {len(found)} {'topics' if all_ else 'emerging topics'} "
               f"(survey date {found[0]['survey_date'] if found else '-'})")
    click.echo(f"{'topic':>5} {'works':>5} {'after':>5} {'growth':>6}  {'emerging':8}  name  [filed under]")
    for t in found:
        filed = ", ".join(f"{label}:{n}" for label, n in list(t["subsections"].items())[:3])
        proposal = t.get("proposal")
        state = f" (label {proposal['label_id']})" if proposal and proposal["status"] == "accepted" else ""
        click.echo(f"{t['topic_id']:>5} {t['size']:>5} {t['after_survey']:>5} {t['growth']:>5.1f}x  "
                   f"{'yes' if t['emerging'] else 'no':8}  {t['name']}  [{filed}]{state}")


@topics.command("run")
@click.option("--seed", type=int, help="UMAP's random state (default 42).")
@click.option("--min-topic-size", type=int, help="Fewest works in a topic (default 20).")
@click.option("--force", is_flag=True, help="Fit again even when nothing changed since the latest topics run.")
def topics_run(seed: int | None, min_topic_size: int | None, force: bool) -> None:
    """Fit the topics of the in-scope works now (the nightly run does it after classify; both keep the
    latest topics when the works, their vectors, labels and the parameters are unchanged).

    \b
    Example:
      litmine topics run --seed 7
    """
    params = {k: v for k, v in (("seed", seed), ("min_topic_size", min_topic_size)) if v is not None}
    run_stage("topics", "topics", params, force=force, **params)


@topics.command("accept")
@click.argument("topic_id", type=int)
@click.option("--label-id", help="Id of the new label (default: the first free new-N).")
@click.option("--name", help="Its name (default: the proposal's, from the topic's phrases).")
@click.option("--run", "run_id", help="The topics run (default: the latest).")
def topics_accept(topic_id: int, label_id: str | None, name: str | None, run_id: str | None) -> None:
    """Add the label proposed from TOPIC_ID to the survey's placement set.

    Works a reviewer then files under it (the review queue) are gold labels: the next
    `litmine classify` learns it.

    \b
    Example:
      litmine topics accept 3 --name "Sparse autoencoders"
    """
    from litmine.review.topics import accept_proposal

    click.echo(str(accept_proposal(open_store(), topic_id, run_id=run_id, label_id=label_id, name=name)))


def register(main: click.Group) -> None:
    main.add_command(topics)
