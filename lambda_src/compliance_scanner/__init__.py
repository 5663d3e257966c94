"""EC2 compliance scanner: collects instances in batched, read-only calls, evaluates pure rules
against a validated policy, and publishes a versioned report to S3, CloudWatch and SNS.

Importable with nothing but boto3 and the standard library, because it is zipped into a Lambda.
"""
