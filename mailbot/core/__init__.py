"""Pure rules: classification, cases, deadlines, commands, plans. No I/O."""
