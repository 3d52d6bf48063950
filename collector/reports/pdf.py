"""The PDF report for people: three pages (summary; charts; projects and models), A4 portrait.

Made with fpdf2; the charts are drawn by matplotlib (Agg, no display) and embedded as PNG images. The
text font is DejaVu Sans, the TrueType font matplotlib installs with itself (nothing is downloaded):
it covers Latin, Greek and Cyrillic names; other scripts show as missing-glyph boxes. Tables are cut to
fit the page, saying how many rows the CSV and Excel files hold beyond it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from collector.read.money import money
from collector.read.monthly_report import FINAL, GroupTotal, MonthlyReport
from collector.reports.text import percent, quantity

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
PAGE_WIDTH = 180.0  # A4 (210 mm) less 15 mm margins
BLUE = (31, 78, 121)
GREEN = (198, 239, 206)
AMBER = (255, 235, 156)
STRIPE = (242, 242, 242)
# fpdf2 subsets the embedded font with fontTools, which logs every step at INFO: noise in costwatch's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)
PALETTE = ["#1f4e79", "#2e75b6", "#9dc3e6", "#c55a11", "#f4b183", "#548235", "#a9d18e", "#7f6000"]


class _Pdf(FPDF):
    def __init__(self, report: MonthlyReport) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report = report
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=15)
        self.add_font(FONT, "", FONT_DIR / "DejaVuSans.ttf")
        self.add_font(FONT, "B", FONT_DIR / "DejaVuSans-Bold.ttf")
        self.set_title(f"costwatch AI spend report {report.label}")
        self.set_author("costwatch")
        self.set_creator("costwatch")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 7)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, f"costwatch · AI spend {self.report.label} · {self.report.data_status}", align="L")
        self.cell(0, 5, f"page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str, size: int = 12) -> None:
        self.set_font(FONT, "B", size)
        self.cell(0, size * 0.55, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def para(self, text: str, size: int = 9) -> None:
        self.set_font(FONT, "", size)
        self.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def fit(self, text: str, width: float) -> str:
        """The text, cut with an ellipsis to fit `width` mm in the current font."""
        if self.get_string_width(text) <= width - 2:
            return text
        while text and self.get_string_width(text + "…") > width - 2:
            text = text[:-1]
        return text + "…"

    def grid(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        aligns: str,
        *,
        max_rows: int = 40,
        size: int = 8,
        empty: str = "(none)",
    ) -> None:
        height = size * 0.6
        self.set_font(FONT, "B", size)
        self.set_fill_color(*BLUE)
        self.set_text_color(255, 255, 255)
        for header, width, align in zip(headers, widths, aligns, strict=True):
            self.cell(width, height, self.fit(header, width), align=_ALIGN[align], fill=True)
        self.ln(height)
        self.set_text_color(0, 0, 0)
        self.set_font(FONT, "", size)
        if not rows:
            self.cell(sum(widths), height, empty, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for index, row in enumerate(rows[:max_rows]):
            self.set_fill_color(*STRIPE)
            for value, width, align in zip(row, widths, aligns, strict=True):
                self.cell(width, height, self.fit(value, width), align=_ALIGN[align], fill=index % 2 == 1)
            self.ln(height)
        if len(rows) > max_rows:
            self.set_font(FONT, "", size - 1)
            self.cell(
                0,
                height,
                f"… and {len(rows) - max_rows} more rows in the CSV and Excel reports",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
        self.ln(3)


_ALIGN = {"L": "L", "R": "R", "C": "C"}


def _group_rows(groups: list[GroupTotal], with_tokens: bool = False) -> list[list[str]]:
    rows = []
    for g in groups:
        row = [g.name or "(none)", money(g.cost, g.currency), money(g.previous_cost, g.currency), percent(g.change_pct)]
        if with_tokens:
            row += [quantity(g.kilo_tokens), money(g.cost_per_million_tokens, g.currency, 4)]
        rows.append(row)
    return rows


def _chart_png(report: MonthlyReport) -> bytes:
    """Spend by project (one bar chart per currency) and daily spend (one line per currency)."""
    currencies = report.currencies
    by_project = report.by("project")
    figure = Figure(figsize=(7.2, 3.0 * len(currencies) + 3.0), dpi=150)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(len(currencies) + 1, 1, height_ratios=[3.0] * len(currencies) + [3.0])
    for index, currency in enumerate(currencies):
        axis = figure.add_subplot(grid[index, 0])
        groups = [g for g in by_project if g.currency == currency and g.cost != 0][:12]
        names = [g.name for g in groups][::-1]
        axis.barh(names, [float(g.cost) for g in groups][::-1], color=PALETTE[1])
        previous = [float(g.previous_cost or 0) for g in groups][::-1]
        axis.scatter(previous, names, marker="|", s=120, color=PALETTE[3], label="previous month", zorder=3)
        axis.set_title(f"Spend by project, {report.title} ({currency})", fontsize=9, loc="left")
        axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=7, loc="lower right")
        axis.grid(axis="x", alpha=0.3)
    axis = figure.add_subplot(grid[len(currencies), 0])
    for index, currency in enumerate(currencies):
        days = [d for d in report.days if d.currency == currency]
        axis.plot(
            [d.day.day for d in days],
            [float(d.cost) for d in days],
            marker="o",
            markersize=2.5,
            color=PALETTE[(index * 3) % len(PALETTE)],
            label=currency,
        )
    axis.set_title(f"Daily spend, {report.title} (each currency on its own line)", fontsize=9, loc="left")
    axis.set_xlabel("day of month", fontsize=7)
    axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    axis.tick_params(labelsize=7)
    if report.days:
        axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def render_pdf(report: MonthlyReport, *, created: datetime | None = None) -> bytes:
    pdf = _Pdf(report)
    pdf.set_creation_date(created or datetime.now(UTC))
    pdf.alias_nb_pages()

    # -- page 1: the month in numbers -------------------------------------------------------------
    pdf.add_page()
    pdf.set_font(FONT, "B", 18)
    pdf.cell(0, 10, f"AI spend report: {report.title}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9)
    pdf.cell(0, 5, "Azure AI Studio model deployments, from costwatch", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_fill_color(*(GREEN if report.data_status == FINAL else AMBER))
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(0, 6, report.status_sentence(), fill=True, border=0, padding=2, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    through = report.last_day_with_data
    pdf.para(
        "AI spend: Marketplace model usage (serverless deployments) and managed compute of AI Studio projects, "
        "as Azure Cost Management states it. Amounts are per billing currency and never added across "
        "currencies. " + (f"Cost data through {through:%d %b %Y}." if through else "No cost data for this month.")
    )
    pdf.heading("Total spend")
    totals = report.totals()
    pdf.grid(
        ["currency", report.title, f"{report.previous_month:%B %Y}", "change", "per 1M tokens"],
        [
            [
                t.currency,
                money(t.cost, t.currency),
                money(t.previous_cost, t.currency),
                percent(t.change_pct),
                money(t.cost_per_million_tokens, t.currency, 4),
            ]
            for t in totals
        ],
        [30, 40, 40, 25, 45],
        "LRRRR",
        empty="(no AI spend this month)",
    )
    pdf.heading("By cost center")
    pdf.grid(
        ["cost center", "currency", "cost", "previous month", "change"],
        [
            [
                g.name or "(no cost-center tag)",
                g.currency,
                money(g.cost, g.currency),
                money(g.previous_cost, g.currency),
                percent(g.change_pct),
            ]
            for g in report.by("cost_center")
        ],
        [55, 20, 40, 40, 25],
        "LLRRR",
        max_rows=10,
    )
    pdf.heading("Budget vs actual")
    pdf.grid(
        ["scope", "name", "budget", "actual", "used", "status"],
        [
            [
                b.scope,
                b.name,
                money(b.amount, b.currency),
                money(b.actual, b.currency),
                percent(b.used_pct, False),
                "OVER" if b.over else "within",
            ]
            for b in report.budgets
        ],
        [25, 50, 35, 35, 17, 18],
        "LLRRRL",
        max_rows=12,
        empty="(no budgets configured in [[alerts.budgets]])",
    )
    pdf.heading(f"Alerts in {report.title}")
    pdf.grid(
        ["rule", "severity", "fired", "resolved"],
        [[a.rule, a.severity, str(a.fired), str(a.resolved)] for a in report.alerts],
        [60, 40, 40, 40],
        "LLRR",
        max_rows=12,
        empty="(no alert fired or resolved this month)",
    )

    # -- page 2: charts -----------------------------------------------------------------------------
    pdf.add_page()
    pdf.heading("Where the money went")
    if report.lines or report.previous_lines:
        png = _chart_png(report)
        pdf.image(io.BytesIO(png), w=PAGE_WIDTH, h=min(250.0, PAGE_WIDTH * _aspect(png)), keep_aspect_ratio=True)
    else:
        pdf.para("No AI spend in this month or the one before: nothing to chart.")

    # -- page 3: projects and models ----------------------------------------------------------------
    pdf.add_page()
    many = len(report.currencies) > 1
    centers = {(line.project, line.currency): line.cost_center for line in report.lines}
    for currency in report.currencies or ["-"]:
        projects = [g for g in report.by("project") if g.currency == currency]
        models = [g for g in report.by("model") if g.currency == currency]
        pdf.heading(f"Projects ({currency})", 11)
        pdf.grid(
            ["project", "cost center", "cost", "previous month", "change"],
            [
                [g.name, centers.get((g.name, currency), ""), *row[1:]]
                for g, row in zip(projects, _group_rows(projects), strict=True)
            ],
            [55, 30, 35, 35, 25],
            "LLRRR",
            max_rows=11 if many else 22,
            size=7,
        )
        pdf.heading(f"Models ({currency})", 11)
        pdf.grid(
            ["model", "cost", "previous month", "change", "tokens (1K)", "per 1M tokens"],
            _group_rows(models, with_tokens=True),
            [52, 27, 27, 17, 27, 30],
            "LRRRRR",
            max_rows=11 if many else 22,
            size=7,
        )
    return bytes(pdf.output())


def _aspect(png: bytes) -> float:
    """Height / width of a PNG, from its IHDR chunk."""
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    return height / width if width else 1.0
