"""Sending e-mail over SMTP: implicit TLS, STARTTLS or (for a trusted relay) plain, with optional login;
every failure told as retryable or not, without a secret. The messages are built by their owners: the
alert e-mail channel (collector/alerts/channels/email.py) and the report mailer (collector/reports/mail.py)."""

from __future__ import annotations

import base64
import contextlib
import email.policy
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, make_msgid

from collector.alerts.channels.base import DeliveryError
from collector.alerts.render import one_line
from collector.settings import EmailSettings

log = logging.getLogger(__name__)

_REPLY_CHARS = 200  # how much of a server's reply goes into a message
# 7-bit content transfer encodings (quoted-printable for the non-ASCII bodies): a server that does not
# offer 8BITMIME may mangle raw UTF-8, and names from Azure may be in any script. CRLF line ends.
POLICY = email.policy.SMTP.clone(cte_type="7bit")
_POLICY_UTF8 = email.policy.SMTPUTF8.clone(cte_type="7bit")


@dataclass(frozen=True)
class _EncodedHeader:
    """A non-ASCII header value, RFC 2047-encoded by email.header.Header. The modern email policy's
    own folding drops a space where it splits encoded words ("東京 — x" arrives as "東京— x");
    the policy folds any value that has a `name` by calling its `fold()` instead."""

    name: str
    value: str

    def fold(self, *, policy: Policy) -> str:
        linesep = policy.linesep
        encoded = Header(self.value, "utf-8", header_name=self.name).encode(linesep=linesep)
        return f"{self.name}: {encoded}{linesep}"

    def __str__(self) -> str:
        return self.value


def header(name: str, value: str) -> str | _EncodedHeader:
    return value if value.isascii() else _EncodedHeader(name, value)


def new_message(settings: EmailSettings, subject: str) -> EmailMessage:
    """An empty automatic message from the configured sender to its recipients."""
    message = EmailMessage(policy=POLICY)
    message["Subject"] = header("Subject", subject)
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = format_datetime(datetime.now(UTC))
    # The sender's domain, not socket.getfqdn(): that can block for seconds on a broken resolver.
    domain = settings.sender.rpartition("@")[2] or "costwatch.invalid"
    message["Message-ID"] = make_msgid("costwatch", domain=domain)
    # RFC 3834: tells vacation responders and ticket systems not to answer an automatic message.
    message["Auto-Submitted"] = "auto-generated"
    return message


class SmtpSender:
    """Sends one message per SMTP connection to every configured recipient: mail is rare, and a fresh
    connection never trips over a server that dropped an idle one."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> str:
        """The server's answer (with its queue ID where it names one), or DeliveryError."""
        try:
            return self._deliver(message)
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise self._error(exc) from None  # from None: a chained traceback could carry AUTH data
        except UnicodeError:  # smtplib sends AUTH PLAIN / LOGIN as ASCII only; the error would quote it
            raise DeliveryError("the SMTP username or password holds characters AUTH cannot send", False) from None

    def _context(self) -> ssl.SSLContext:
        # With a ca_bundle, trust only that CA (a private server); else the system's trust store.
        cafile = str(self.settings.ca_bundle) if self.settings.ca_bundle else None
        return ssl.create_default_context(cafile=cafile)

    def _deliver(self, message: EmailMessage) -> str:
        s = self.settings
        smtp: smtplib.SMTP
        if s.tls:
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.timeout_seconds, context=self._context())
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_seconds)
        try:
            smtp.ehlo_or_helo_if_needed()
            if not s.tls and s.starttls:
                # Raises SMTPNotSupportedError when the server offers no STARTTLS: we never fall
                # back to sending (and logging in) in plain text.
                smtp.starttls(context=self._context())
                smtp.ehlo_or_helo_if_needed()  # what the server offers may change once encrypted
            if s.username:
                password = s.password.get_secret_value() if s.password else ""
                smtp.login(s.username, password)
            answer = self._transaction(smtp, message)
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()  # the message is accepted: a rude goodbye changes nothing
            return answer
        finally:
            smtp.close()

    def _transaction(self, smtp: smtplib.SMTP, message: EmailMessage) -> str:
        """MAIL, RCPT, DATA as smtplib's sendmail() does, but keeping DATA's reply, which often
        names the server's queue ID: the handle a mail admin needs to trace a lost alert."""
        s = self.settings
        international = not all(address.isascii() for address in [s.sender, *s.recipients])
        if international and not smtp.has_extn("smtputf8"):
            raise DeliveryError(
                f"the SMTP server {s.smtp_host} does not accept non-ASCII addresses (no SMTPUTF8)", retryable=False
            )
        data = message.as_bytes(policy=_POLICY_UTF8 if international else POLICY)
        options = []
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(data)}")
        if international:
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        code, reply = smtp.mail(s.sender, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, s.sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in s.recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if len(refused) == len(s.recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = smtp.data(data)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        accepted = len(s.recipients) - len(refused)
        answer = f"{code} accepted by {s.smtp_host} for {accepted} recipient(s)"
        text = self._reply(reply)
        if text:
            answer += f" ({text})"
        if refused:
            # Some recipients got it: retrying would send them a duplicate, so this is a success
            # that says who was refused (and the log says it louder).
            lost = "; ".join(f"{rcpt}: {code} {self._reply(why)}" for rcpt, (code, why) in refused.items())
            log.warning("the SMTP server %s refused some alert recipients: %s", s.smtp_host, lost)
            answer += f"; refused {lost}"
        return answer

    # -- errors -----------------------------------------------------------------------------------

    def _reply(self, reply: bytes | str) -> str:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        text = self._redact(one_line(text))
        return text if len(text) <= _REPLY_CHARS else text[: _REPLY_CHARS - 1] + "…"

    def _redact(self, text: str) -> str:
        """Take the password out of text, also in the base64 forms AUTH PLAIN and AUTH LOGIN send,
        in case a server echoes what it got."""
        if not self.settings.password:
            return text
        password = self.settings.password.get_secret_value()
        if not password:
            return text
        forms = [
            password,
            base64.b64encode(password.encode()).decode(),
            base64.b64encode(f"\0{self.settings.username}\0{password}".encode()).decode(),
        ]
        for form in forms:
            text = text.replace(form, "***")
        return text

    def _error(self, exc: smtplib.SMTPException | OSError) -> DeliveryError:
        s = self.settings
        server = f"the SMTP server {s.smtp_host}:{s.smtp_port}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            # 535 is a wrong user or password, 534 a mechanism the account may not use: a retry
            # cannot fix either. 454 is a temporary failure of the server's authentication backend.
            retryable = 400 <= exc.smtp_code < 500
            return DeliveryError(
                f"{server} refused the login of {s.username!r}: {exc.smtp_code} {self._reply(exc.smtp_error)}",
                retryable,
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            hint = ""
            if "STARTTLS" in str(exc):
                # never a silent downgrade: sending in the clear must be a decision in the settings
                hint = " (tls = true for implicit TLS on port 465; starttls = false only for a relay you trust)"
            return DeliveryError(f"{server}: {self._reply(str(exc))}{hint}", False)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            refusals = exc.recipients.items()
            detail = "; ".join(f"{rcpt}: {code} {self._reply(why)}" for rcpt, (code, why) in refusals)
            retryable = any(400 <= code < 500 for _, (code, _why) in refusals)
            return DeliveryError(f"{server} refused every recipient: {detail}", retryable)
        if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, DATA refused, bad greeting, ...
            # 4xx: a temporary condition (greylisting, full queue); 5xx: a permanent rejection.
            retryable = not 500 <= exc.smtp_code < 600
            return DeliveryError(f"{server} answered {exc.smtp_code} {self._reply(exc.smtp_error)}", retryable)
        if type(exc) is smtplib.SMTPException:  # smtplib's own refusal, e.g. "No suitable authentication method"
            return DeliveryError(f"cannot send through {server}: {self._reply(str(exc))}", False)
        if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
            # smtplib turns a timeout while awaiting a reply into "Connection unexpectedly closed"
            return DeliveryError(f"{server} did not answer within {s.timeout_seconds:g} s", True)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return DeliveryError(f"{server} closed the connection: {self._reply(str(exc))}", True)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return DeliveryError(
                f"the certificate of {server} is not trusted ({exc.verify_message}): set [alerts.email] "
                "ca_bundle to the PEM file of the CA that signed it",
                False,
            )
        if isinstance(exc, TimeoutError):
            return DeliveryError(f"{server} did not answer within {s.timeout_seconds:g} s", True)
        if isinstance(exc, OSError):  # refused, unreachable, name not resolved, TLS handshake broken
            return DeliveryError(f"cannot reach {server}: {self._reply(str(exc))}", True)
        return DeliveryError(f"sending to {server} failed: {self._reply(str(exc))}", True)
