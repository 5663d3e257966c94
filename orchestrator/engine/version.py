"""The pulumi CLI version this release is tested with: the one `ec2c engine install` installs.

One line on purpose: `install-pulumi.sh` and the Makefile read the version from this file (with
sed, before any Python environment exists), so the pin is changed here and only here.
"""

PINNED_VERSION = "3.274.1"
