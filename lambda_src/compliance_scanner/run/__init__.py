"""How a scan runs: the Lambda entry point (`handler`), a scan in one invocation (`scanner`), a
region's streamed scan (`worker`), and the Step Functions fan-out (`workflow`, `steps`)."""
