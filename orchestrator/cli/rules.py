"""`ec2c rules`: the rule catalogue as a table, JSON or the README's Markdown."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import err, print_data, print_json
from .guard import guard


@guard
def rules(
    as_json: Annotated[bool, typer.Option("--json", help="Every rule's full metadata as JSON on stdout.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="The Markdown table of the README on stdout.")] = False,
) -> None:
    """List the rule catalogue: severity, default, mappings (Security Hub, CIS, AWS Config, Prowler)."""
    from ..reporting.catalogue import rule_documents, rules_table, to_markdown

    documents = rule_documents()
    if as_json:
        print_json(documents)
    elif markdown:
        print_data(to_markdown(documents))
    else:
        err.print(rules_table(documents))
