"""Alert messages as people read them: an email (subject, plain text, HTML) and a Teams Adaptive Card.

The wording lives in the Jinja templates under `templates/`; this module prepares what they show and
escapes it for each format. Every text field of a Notification may carry hostile text from Azure
(a resource named `<script>` or a tag `[click](http://evil)`), so:

- the HTML template is autoescaped;
- the card's values are escaped for Adaptive Card markdown before any template sees them, so the
  templates can compose them freely without escaping twice;
- the subject and every card text are collapsed to one line (a newline in a header would be an
  injection, and in a card a line starting with `-` or `#` would become a list or heading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

if TYPE_CHECKING:  # only for hints: a runtime import would cycle through the channels package
    from collector.alerts.channels.base import Notification

TEMPLATES = Path(__file__).resolve().parent / "templates"
EVENTS = ("firing", "reminder", "resolved")

# Adaptive Card TextBlock colours by severity; a resolved alert is always "good".
_CARD_COLOURS = {"critical": "Attention", "warning": "Warning", "info": "Accent"}

# Longest value a card shows, and most detail rows: Teams refuses cards over about 28 KB.
_CARD_VALUE_CHARS = 500
_CARD_DETAILS = 25

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
    undefined=StrictUndefined,  # a misspelt field fails the render instead of leaving a silent gap
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
# ASCII punctuation that means something in the markdown Teams renders (emphasis, links, headings,
# quotes, strikethrough, tables, code, inline HTML, entities, and the {{DATE()}} / {{TIME()}}
# functions of Adaptive Cards). CommonMark lets a backslash make any of them literal.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|<>~&$])")
# A line starting with "- ", "1. " or "=" would turn into a list or heading: escape that start.
_LIST_START = re.compile(r"^(\s*)([-=]|\d+[.)])")


def one_line(text: str) -> str:
    """Collapse newlines, tabs and control characters to single spaces."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def escape_markdown(text: str) -> str:
    """Make text show literally in an Adaptive Card TextBlock or FactSet (one line)."""
    text = _MARKDOWN.sub(r"\\\1", one_line(text))
    return _LIST_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_time(moment: datetime) -> str:
    """A moment in UTC, to the minute: alerts go to people in many time zones."""
    if moment.tzinfo is None:  # the store keeps UTC without a zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_duration(start: datetime, end: datetime) -> str:
    """How long from start to end, in the two largest units: "2 days 3 hours", "45 minutes"."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    minutes = int((end - start).total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    parts = []
    for unit, size in (("day", 24 * 60), ("hour", 60), ("minute", 1)):
        count, minutes = divmod(minutes, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts[:2])


@dataclass(frozen=True)
class _View:
    """What a template shows of one notification, already escaped for the target format where the
    format needs it (markdown); HTML is escaped by Jinja's autoescape instead."""

    alert_key: str
    rule: str
    severity: str
    event: str
    subject: str
    message: str
    value: str | None
    threshold: str | None
    since: str
    duration: str
    link: str
    details: list[tuple[str, str]]


def _view(n: Notification, now: datetime | None) -> _View:
    if n.event not in EVENTS:
        raise ValueError(f"unknown notification event {n.event!r}; expected one of {', '.join(EVENTS)}")
    return _View(
        alert_key=n.alert_key,
        rule=n.rule,
        severity=n.severity.lower(),
        event=n.event,
        subject=one_line(n.subject),
        message=n.message.strip(),
        value=n.value,
        threshold=n.threshold,
        since=format_time(n.since),
        duration=format_duration(n.since, now or datetime.now(UTC)),
        link=n.link,
        details=list(n.details.items()),
    )


def _markdown_view(view: _View) -> _View:
    def md(text: str) -> str:
        return escape_markdown(_clip(one_line(text), _CARD_VALUE_CHARS))

    def md_or_none(text: str | None) -> str | None:
        return None if text is None else md(text)

    details = [(md(key), md(value)) for key, value in view.details[:_CARD_DETAILS]]
    if len(view.details) > _CARD_DETAILS:
        details.append(("…", f"{len(view.details) - _CARD_DETAILS} more"))
    return replace(
        view,
        alert_key=md(view.alert_key),
        rule=md(view.rule),
        severity=md(view.severity),
        subject=md(view.subject),
        message=md(view.message),
        value=md_or_none(view.value),
        threshold=md_or_none(view.threshold),
        since=md(view.since),
        duration=md(view.duration),
        details=details,
        # the link is not markdown: it goes into the Action.OpenUrl's url as it is
    )


def render_email(n: Notification, now: datetime | None = None) -> tuple[str, str, str]:
    """The email for a notification: (subject, plain-text body, HTML body). `now` dates a reminder's
    or a resolution's duration (default: the current time)."""
    view = _view(n, now)
    subject = one_line(_env.get_template("email_subject.txt.j2").render(a=view))
    text = _env.get_template("email.txt.j2").render(a=view)
    html = _env.get_template("email.html.j2").render(a=view)
    return subject, text, html


def render_card(n: Notification, now: datetime | None = None) -> dict[str, Any]:
    """The Teams message for a notification: a Workflows-webhook payload holding one Adaptive Card."""
    plain = _view(n, now)
    view = _markdown_view(plain)
    # The template's top-level {% set %} blocks are the card's texts; the structure is built here
    # so that the JSON is well-formed whatever the texts hold.
    texts: Any = _env.get_template("card.j2").make_module({"a": view})
    colour = "Good" if view.event == "resolved" else _CARD_COLOURS.get(plain.severity, "Default")
    facts: list[dict[str, str]] = [
        {"title": one_line(str(title)), "value": one_line(str(value))} for title, value in texts.facts
    ]
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": one_line(str(texts.title)),
            "size": "Medium",
            "weight": "Bolder",
            "color": colour,
            "wrap": True,
        },
        {"type": "TextBlock", "text": one_line(str(texts.summary)), "wrap": True},
        {"type": "FactSet", "facts": facts},
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": one_line(str(texts.action)), "url": plain.link}],
        "msteams": {"width": "Full"},  # Teams otherwise squeezes the fact table into a narrow bubble
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
