"""Scans, as services that return typed results and print nothing: a local scan (`local`, with
`regions`, `policy`, `aws`, `store` and `gate`), a deployed environment's latest report (`latest`),
a scan run by its state machine (`remote`, `run_scan`) and the Security Hub import (`hub`). The
demo fleet a local scan can use is `ec2c.orchestrator.demo`; the formats are `reporting`'s."""
