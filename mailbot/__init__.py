"""mailbot: the daemon behind a municipality's responsible-disclosure mailbox."""

__version__ = "0.1.0"
