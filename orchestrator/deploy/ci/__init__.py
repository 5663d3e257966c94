"""What CI needs of stacks: the ephemeral deploy -> test -> tear down run (`ephemeral`), the
pytest plugin that hands the suite the stack's outputs (`testing`), and the listing and sweep of
what killed jobs leave behind (`inventory`)."""
