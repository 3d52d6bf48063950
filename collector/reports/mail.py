"""Mail a generated report as an attachment through the alerts' SMTP settings ([alerts.email]).

The SMTP conversation (implicit TLS or STARTTLS, login, MAIL/RCPT/DATA keeping the server's queue ID,
errors without secrets) is the alert email channel's own: ReportMailer reuses it rather than keeping
a second copy.
"""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from collector.alerts.channels.base import DeliveryError
from collector.alerts.channels.email import _POLICY, EmailChannel
from collector.reports.files import MIME_TYPES
from collector.reports.monthly import MonthlyReport
from collector.reports.text import money
from collector.settings import EmailSettings


def summary_text(report: MonthlyReport) -> str:
    """The email's body: the month's totals and status in a few plain lines."""
    lines = [f"costwatch AI spend report for {report.title}", "", report.status_sentence(), ""]
    for t in report.totals():
        change = "" if t.change_pct is None else f" ({t.change_pct:+.1f}% on {report.previous_month:%B})"
        lines.append(f"  Total {t.currency}: {money(t.cost, t.currency)}{change}")
    if not report.lines:
        lines.append("  No AI spend recorded for this month.")
    for b in report.budgets:
        if b.over:
            lines.append(
                f"  Over budget: {b.scope} {b.name}: {money(b.actual, b.currency)} of {money(b.amount, b.currency)}"
            )
    lines += ["", "Amounts are per billing currency and never added across currencies.", ""]
    return "\n".join(lines)


class ReportMailer(EmailChannel):
    """Sends report files to the given recipients (default: [alerts.email] recipients)."""

    name = "email"

    def __init__(self, settings: EmailSettings, recipients: list[str] | None = None) -> None:
        if recipients:
            settings = settings.model_copy(update={"recipients": list(recipients)})
        super().__init__(settings)

    def send_report(self, report: MonthlyReport, files: list[tuple[str, Path]]) -> str:
        """Deliver the files ((format, path) pairs) in one message; the server's answer, or DeliveryError
        (never holding a secret)."""
        s = self.settings
        if not s.smtp_host or not s.sender or not s.recipients:
            raise DeliveryError(
                "email is not fully configured: [alerts.email] needs smtp_host, sender and recipients (or give --to)",
                retryable=False,
            )
        try:
            return self._deliver(self._report_message(report, files))
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise self._error(exc) from None
        except UnicodeError:
            raise DeliveryError("the SMTP username or password holds characters AUTH cannot send", False) from None

    def _report_message(self, report: MonthlyReport, files: list[tuple[str, Path]]) -> EmailMessage:
        s = self.settings
        message = EmailMessage(policy=_POLICY)
        kind = "FOCUS cost file" if [fmt for fmt, _ in files] == ["focus"] else "AI spend report"
        message["Subject"] = f"[costwatch] {kind} {report.label} ({report.data_status})"
        message["From"] = s.sender
        message["To"] = ", ".join(s.recipients)
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid("costwatch", domain=s.sender.rpartition("@")[2] or "costwatch.invalid")
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(summary_text(report))
        for fmt, path in files:
            maintype, subtype = MIME_TYPES[fmt].split("/", 1)
            message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
        return message
