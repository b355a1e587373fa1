"""The one exception tree of mailbot, grouped by what the caller must do.

- `RetryableError`: a temporary fault (network, server 4xx); try again later.
- `UserError`: the admin or operator must fix something (config, arguments).
Messages name the bad value.
"""


class MailbotError(Exception):
    """Root of every error mailbot raises on purpose."""


class RetryableError(MailbotError):
    """A temporary failure: the same action may succeed later."""


class MailboxUnavailable(RetryableError):
    """The mailbox (IMAP server, Maildir) cannot be reached right now."""


class MailboxLoginFailed(MailboxUnavailable):
    """The mailbox refused our credentials: retried slowly, never hammered (account lockout)."""


class StorageUnavailable(RetryableError):
    """The database cannot be written or read right now (disk full, I/O error, read-only
    filesystem, locked past its timeout). Never the message's fault: it stays in the
    mailbox, unrecorded, and is handled again once the store can write."""


class RestoreIncomplete(RetryableError):
    """`mailbot restore` put the backup in place but could not re-record everything after
    it (the mailbox went away): running the same restore again finishes it."""


class TransportTemporaryError(RetryableError):
    """The outbound transport refused for now (SMTP 4xx, connection lost)."""


class PermanentError(MailbotError):
    """A failure that will not go away by retrying."""


class TransportPermanentError(PermanentError):
    """The outbound transport refused for good (SMTP 5xx, bad recipient)."""


class UserError(MailbotError):
    """The operator must act: bad configuration, bad command-line arguments."""


class ConfigError(UserError):
    """The configuration file is invalid; the message names the key and the file."""


class NotFoundError(UserError):
    """A case or message named on the command line does not exist."""


class StillQuarantined(UserError):
    """A message given to `mailbot release` would be quarantined again; nothing changed."""
