"""Reading EC2: one region's budgeted, batched calls (`collector`), what a region holds besides
instances and its guardrails (`region_resources`), the API's shapes as records (`normalize`), and
the clients and time budget the calls run under."""
