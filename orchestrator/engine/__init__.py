"""The pulumi CLI behind every stack operation: finding or installing it (`pulumi_cli`), running
it under supervision (`command`), and turning the signals CI sends into its graceful cancel
(`supervisor`)."""
