"""Turns a `Letter` into an email: a one-line subject, a plain-text body and an HTML alternative.

Templates live in `templates/` as `<kind>.subject.txt`, `<kind>.txt` and `<kind>.html`; a practice
can replace any of them (or the layouts) by putting a file of the same name in an overrides
directory. HTML is always autoescaped, text never; a variable a template asks for and does not
get is an error (StrictUndefined), and so is printing `None`.

User text (names, reason, findings ...) is only ever a value given to a template, never a template
itself, so `{{ 7*7 }}` typed in a reason reads as typed.

Minimum necessary: subject templates only see the reference, the kind and the practice, and the
escalation body (for ops) sees no patient, referral or clinical data, so even an override cannot
put PHI there. In `minimum` email mode (settings.email_mode) the letters to offices are
`<kind>.minimum.txt|html`, which see only the reference, the practice and a link to view the
referral (or its consult report) in Referral Loop after signing in: no name, birth date, reason,
diagnosis or findings, whatever a template asks for.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup, escape

from contracts.referral import Priority
from referral_loop.settings import Settings
from services.feedback.letters import NOTICES, Kind, Letter, Rendered

BUILT_IN_TEMPLATES = Path(__file__).parent / "templates"

PRIORITY_WORDS = {
    Priority.ROUTINE: "Routine",
    Priority.URGENT: "Urgent",
    Priority.ASAP: "As soon as possible",
    Priority.STAT: "STAT (immediately)",
}


def in_words(value: date, weekday: bool = True) -> str:
    """`Tuesday 1 December 2026` (`1 December 2026` without the weekday, as for a date of birth);
    a datetime adds its time and zone: `Tuesday 1 December 2026 at 09:30 UTC`."""
    if isinstance(value, datetime):
        return _moment_in_words(value)
    day = f"{value.day} {value:%B} {value.year}"
    return f"{value:%A} {day}" if weekday else day


def _moment_in_words(moment: datetime) -> str:
    zone = moment.tzname()
    if zone is None:
        raise ValueError("a datetime in a letter must be timezone-aware")
    return f"{in_words(moment.date())} at {moment:%H:%M} {zone}"


def html_lines(text: str) -> Markup:
    """Multi-line text for HTML: each line escaped, lines joined with <br>."""
    return Markup("<br>\n").join(escape(line) for line in str(text).splitlines())


def one_line(raw: str) -> str:
    """A header-safe subject: control and format characters become spaces, whitespace collapses."""
    visible = "".join(" " if unicodedata.category(char).startswith("C") else char for char in raw)
    subject = " ".join(visible.split())
    if not subject:
        raise ValueError("the subject template rendered an empty subject")
    return subject


def no_none(value: object) -> object:
    """Jinja `finalize`: printing None is a template bug (guard optional values with `if`)."""
    if value is None:
        raise TypeError("a template printed None; guard optional values with {% if %}")
    return value


@dataclass(frozen=True)
class _Templates:
    subject: Template
    text: Template
    html: Template


class Renderer:
    """Renders letters. Each kind's templates compile when it is built (a broken override fails at
    start-up), layouts on first use; nothing is reloaded or recompiled after that."""

    def __init__(self, overrides_dir: Path | None = None, minimum: bool = False, view_base: str = "") -> None:
        loader = _loader(overrides_dir)
        self.minimum, self.view_base = minimum, view_base.rstrip("/")
        self._text = _environment(loader, autoescape=False)
        self._html = _environment(loader, autoescape=True)
        self._html.filters["lines"] = html_lines
        self._templates = {kind: self._compile(kind) for kind in Kind}

    @classmethod
    def from_settings(cls, settings: Settings) -> Renderer:
        """Overrides, email mode and the base of view links (intake's URL) as configured."""
        return cls(settings.templates_dir, settings.email_mode == "minimum", settings.base_url)

    def _compile(self, kind: Kind) -> _Templates:
        body = f"{kind.value}.minimum" if self.minimum and kind in NOTICES else kind.value
        return _Templates(
            subject=self._text.get_template(f"{kind.value}.subject.txt"),
            text=self._text.get_template(f"{body}.txt"),
            html=self._html.get_template(f"{body}.html"),
        )

    def render(self, letter: Letter) -> Rendered:
        _check(letter)
        templates = self._templates[letter.kind]
        subject = one_line(templates.subject.render(subject_context(letter)))
        if self.minimum and letter.kind in NOTICES:
            context = notice_context(letter, subject, self.view_base)
        else:
            context = body_context(letter, subject)
        return Rendered(
            subject=subject, text=templates.text.render(context), html=templates.html.render(context)
        )


def _loader(overrides_dir: Path | None) -> BaseLoader:
    built_in = FileSystemLoader(BUILT_IN_TEMPLATES)
    if overrides_dir is None:
        return built_in
    if not overrides_dir.is_dir():
        raise NotADirectoryError(f"template overrides directory not found: {overrides_dir}")
    return ChoiceLoader([FileSystemLoader(overrides_dir), built_in])


def _environment(loader: BaseLoader, *, autoescape: bool) -> Environment:
    environment = Environment(
        loader=loader,
        autoescape=autoescape,  # noqa: S701 - off only for the plain-text (never HTML) environment
        undefined=StrictUndefined,
        finalize=no_none,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["in_words"] = in_words
    return environment


def _check(letter: Letter) -> None:
    if letter.kind is Kind.REPORT and (letter.summary is None or letter.seen_at is None):
        raise ValueError("a consult report needs the consult summary and when the patient was seen")
    if letter.kind is Kind.ESCALATION and not letter.escalation:
        raise ValueError("an escalation needs its reason (letter.escalation)")


def subject_context(letter: Letter) -> dict[str, Any]:
    """All a subject may use: nothing about the patient, the diagnosis or the provider."""
    return {"reference": letter.reference, "kind": letter.kind.value, "practice": letter.practice}


def body_context(letter: Letter, subject: str) -> dict[str, Any]:
    if letter.kind is Kind.ESCALATION:
        return _escalation_context(letter, subject)
    referral = letter.referral
    return {
        **_common(letter, subject),
        "letter": letter,
        "referral": referral,
        "patient": referral.patient,
        "provider": referral.referring_provider,
        "clinic": referral.referring_clinic,
        "priority": PRIORITY_WORDS[referral.priority],
        "summary": letter.summary,
        "seen_at": letter.seen_at,
        "return_visit": letter.return_visit_on or referral.return_visit_on,
        "first_referral": letter.first_referral,
    }


def notice_context(letter: Letter, subject: str, base: str) -> dict[str, Any]:
    """All a minimum-mode letter may use: the reference, the practice and the link. No PHI."""
    return {
        "subject": subject,
        "reference": letter.reference,
        "practice": letter.practice,
        "kind": letter.kind.value,
        "view_url": letter.view_url(base),
        "first_referral": letter.first_referral,
    }


def _escalation_context(letter: Letter, subject: str) -> dict[str, Any]:
    """For ops: why, by when, and the reference to look it up by. No patient, no clinical content."""
    return {**_common(letter, subject), "escalation": letter.escalation, "due_at": letter.due_at}


def _common(letter: Letter, subject: str) -> dict[str, Any]:
    return {
        "subject": subject,
        "reference": letter.reference,
        "practice": letter.practice,
        "received_at": letter.received_at,
    }
