"""Plans that do nothing, so a benchmark times the slave and not its actions."""
