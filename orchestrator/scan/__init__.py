"""`ec2c scan`: the command, its terminal rendering and the embedded demo fleet."""
