"""The inline program: builds the component and exports every output under its contract name."""

from __future__ import annotations

from stack_harness import REGION, run_program

from ec2c.stacks import OUTPUT_NAMES, TYPE_TOKEN, ComplianceAnalyzerArgs, program


def test_program_exports_every_output_with_the_component_values() -> None:
    deployment = run_program(program(ComplianceAnalyzerArgs(environment="prod")))
    assert OUTPUT_NAMES == (
        "lambda_function_arn",
        "lambda_function_name",
        "sns_topic_arn",
        "compliance_bucket_name",
        "dashboard_name",
        "log_group_name",
        "schedule_rule_name",
        "region",
        "scanner_code_sha256",
        "state_machine_arn",
    )
    assert sorted(deployment.exports) == sorted(OUTPUT_NAMES)
    assert deployment.exports == deployment.component_outputs
    assert deployment.exports["lambda_function_name"] == "ec2-compliance-prod"
    assert deployment.exports["region"] == REGION


def test_program_names_the_component_and_its_children() -> None:
    deployment = run_program(program(ComplianceAnalyzerArgs(environment="prod"), name="fleet"))
    assert deployment.one(TYPE_TOKEN).name == "fleet"
    children = [r for r in deployment.resources if r.type != TYPE_TOKEN]
    assert children and all(r.name.startswith("fleet-") and r.name.endswith("-prod") for r in children)


def test_building_the_program_registers_nothing_until_the_engine_runs_it() -> None:
    """Building is pure: the program registers its resources only when the engine runs it, and
    each run registers the same set (what an idempotent `up` relies on)."""
    built = program(ComplianceAnalyzerArgs(environment="prod"))
    assert built.__code__.co_argcount == 0
    first = run_program(built)
    second = run_program(built)
    assert sorted((r.type, r.name) for r in first.resources) == sorted((r.type, r.name) for r in second.resources)
    assert len(first.resources) == 32  # the component and its 31 children (no e-mail subscriptions)
    assert first.exports == second.exports
