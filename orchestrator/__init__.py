"""`ec2c`: deploy, test and operate the EC2 compliance analyzer through Pulumi's Automation API."""
