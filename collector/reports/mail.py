"""Mail a generated report as an attachment through the alerts' SMTP settings ([alerts.email]): the
message is built here, and sent by collector/alerts/channels/smtp.py as alerts are."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from collector.alerts.channels.base import DeliveryError
from collector.alerts.channels.smtp import SmtpSender, new_message
from collector.read.money import money
from collector.read.monthly_report import MonthlyReport
from collector.reports.files import MIME_TYPES
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


class ReportMailer:
    """Sends report files to the given recipients (default: [alerts.email] recipients)."""

    def __init__(self, settings: EmailSettings, recipients: list[str] | None = None) -> None:
        if recipients:
            settings = settings.model_copy(update={"recipients": list(recipients)})
        self.settings = settings

    def send_report(self, report: MonthlyReport, files: list[tuple[str, Path]]) -> str:
        """Deliver the files ((format, path) pairs) in one message; the server's answer, or DeliveryError
        (never holding a secret)."""
        s = self.settings
        if not s.smtp_host or not s.sender or not s.recipients:
            raise DeliveryError(
                "email is not fully configured: [alerts.email] needs smtp_host, sender and recipients (or give --to)",
                retryable=False,
            )
        return SmtpSender(s).send(report_message(s, report, files))


def report_message(settings: EmailSettings, report: MonthlyReport, files: list[tuple[str, Path]]) -> EmailMessage:
    kind = "FOCUS cost file" if [fmt for fmt, _ in files] == ["focus"] else "AI spend report"
    message = new_message(settings, f"[costwatch] {kind} {report.label} ({report.data_status})")
    message.set_content(summary_text(report))
    for fmt, path in files:
        maintype, subtype = MIME_TYPES[fmt].split("/", 1)
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return message
