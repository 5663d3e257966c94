"""What a scan tells: the sharded report it writes (`report`) and reads back (`reader`), the
run-to-run history, the alert and metrics (`alerts`, `publish`), and the Security Hub findings
(`asff`, `security_hub`)."""
