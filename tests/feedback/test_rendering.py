"""The feedback emails: what each kind says, what a subject never says, escaping and overrides."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError

from contracts.events import ConsultSummary
from contracts.referral import Referral
from services.feedback.letters import Kind, Letter, Practice, Rendered
from services.feedback.rendering import Renderer, in_words, one_line
from tests.support.referrals import referral_body

REFERRAL_ID = UUID("1a2b3c4d-0000-4000-8000-000000000000")
REFERENCE = "RL-1A2B3C4D"
PRACTICE = Practice(
    name="Northside Cardiology",
    address="12 Elm Street\nSpringfield, IL 62701",
    phone="+15550100200",
    email="hello@northside.example",
    ops_email="ops@northside.example",
)
SUMMARY = ConsultSummary(
    specialist="Dr. Ada Byron",
    findings="Normal echo. Mild left ventricular hypertrophy.",
    assessment="Stable angina.",
    plan="Start a beta blocker.",
    recommendations="Recheck blood pressure in 4 weeks.",
)
SEEN_AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ESCALATION = "Report due soon: no consult report yet."
SCRIPT = "<script>alert(1)</script>"
FORBIDDEN = re.compile(
    r"\b(gift|lunch|discount|voucher|reward|coupon|complimentary|free|prize|incentive|bonus)|\$",
    re.IGNORECASE,
)


def letter(kind: Kind = Kind.REPORT, referral: dict[str, Any] | None = None, **fields: Any) -> Letter:
    values: dict[str, Any] = {
        "kind": kind,
        "referral_id": REFERRAL_ID,
        "to": "reports@harbor.example",
        "practice": PRACTICE,
        "referral": Referral.model_validate(referral_body(**(referral or {}))),
        "received_at": datetime(2026, 11, 20, 14, 5, tzinfo=UTC),
        "seen_at": SEEN_AT,
        "summary": SUMMARY,
        "escalation": ESCALATION if kind is Kind.ESCALATION else None,
    }
    return Letter(**{**values, **fields})


def everything(rendered: Rendered) -> str:
    return "\n".join([rendered.subject, rendered.text, rendered.html or ""])


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.mark.parametrize("kind", list(Kind))
def test_each_kind_renders_a_subject_text_and_html_with_the_practice_footer(
    renderer: Renderer, kind: Kind
) -> None:
    rendered = renderer.render(letter(kind))
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.html is not None and rendered.html.startswith("<!DOCTYPE html>")
    for body in (rendered.text, rendered.html):
        for brand in ("Northside Cardiology", "12 Elm Street", "Springfield, IL 62701"):
            assert brand in body
        assert "+15550100200" in body and "hello@northside.example" in body


@pytest.mark.parametrize("kind", list(Kind))
def test_a_subject_carries_the_reference_and_no_phi(renderer: Renderer, kind: Kind) -> None:
    subject = renderer.render(letter(kind)).subject
    assert REFERENCE in subject
    for phi in ("Ada", "Lovelace", "1980", "April", "R07.9", "I10", "Hopper", "Harbor", "chest"):
        assert phi not in subject


def test_the_subjects_read_as_their_kind(renderer: Renderer) -> None:
    subjects = {kind: renderer.render(letter(kind)).subject for kind in Kind}
    assert subjects[Kind.ACKNOWLEDGEMENT] == f"Referral received {REFERENCE}"
    assert subjects[Kind.REPORT] == f"Consult report {REFERENCE}"
    assert subjects[Kind.THANK_YOU] == f"Thank you from Northside Cardiology ({REFERENCE})"
    assert subjects[Kind.ESCALATION].startswith("Attention")


def test_the_report_says_what_the_specialist_found_about_whom_and_when(renderer: Renderer) -> None:
    rendered = renderer.render(letter(Kind.REPORT))
    for body in (rendered.text, rendered.html or ""):
        for part in (SUMMARY.findings, SUMMARY.assessment, SUMMARY.plan, SUMMARY.recommendations):
            assert part in body
        assert "Ada Lovelace" in body and "2 April 1980" in body
        assert "Tuesday 1 December 2026 at 09:30 UTC" in body
        assert "Dr. Ada Byron" in body and "Dear Dr. Grace Hopper" in body
        assert "Exertional chest pain, abnormal ECG." in body and "R07.9, I10" in body
        assert "sees you again on" in body and "Tuesday 15 December 2026" in body


def test_the_report_mentions_the_return_visit_only_when_it_is_known(renderer: Renderer) -> None:
    text = renderer.render(letter(Kind.REPORT, referral={"return_visit_on": None})).text
    assert "sees you again" not in text
    known = letter(Kind.REPORT, referral={"return_visit_on": None}, return_visit_on=date(2027, 1, 5))
    assert "sees you again on Tuesday 5 January 2027" in renderer.render(known).text


def test_a_report_without_a_consult_summary_is_refused(renderer: Renderer) -> None:
    with pytest.raises(ValueError, match="consult summary"):
        renderer.render(letter(Kind.REPORT, summary=None))


def test_the_acknowledgement_says_who_will_call_the_patient_and_how_to_reach_the_practice(
    renderer: Renderer,
) -> None:
    rendered = renderer.render(letter(Kind.ACKNOWLEDGEMENT))
    for body in (rendered.text, rendered.html or ""):
        assert "Ada Lovelace" in body and "Priority:" in body and "Urgent" in body
        assert "scheduling team will contact the patient" in body
        assert "REF-1001" in body and REFERENCE in body


@pytest.mark.parametrize("kind", [Kind.ACKNOWLEDGEMENT, Kind.REPORT])
def test_markup_in_a_patient_name_is_escaped_in_html_and_literal_in_text(
    renderer: Renderer, kind: Kind
) -> None:
    patient = {**referral_body()["patient"], "given_name": SCRIPT}
    rendered = renderer.render(letter(kind, referral={"patient": patient}))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (rendered.html or "")
    assert "<script>" not in (rendered.html or "")
    assert SCRIPT in rendered.text


def test_markup_in_the_findings_is_escaped_in_html_and_literal_in_text(renderer: Renderer) -> None:
    summary = SUMMARY.model_copy(update={"findings": f"Line one {SCRIPT}\nLine two & more"})
    rendered = renderer.render(letter(Kind.REPORT, summary=summary))
    html = rendered.html or ""
    assert "Line one &lt;script&gt;alert(1)&lt;/script&gt;<br>\nLine two &amp; more" in html
    assert "<script>" not in html
    assert f"Line one {SCRIPT}\nLine two & more" in rendered.text


def test_template_syntax_in_user_text_reads_as_typed(renderer: Renderer) -> None:
    reason = "Pain {{ 7*7 }} and {% if true %}odd{% endif %}"
    rendered = renderer.render(letter(Kind.REPORT, referral={"reason": reason}))
    for body in (rendered.text, rendered.html or ""):
        assert reason in body
        assert "49" not in body


def test_a_first_referral_and_a_regular_referrer_are_thanked_differently(renderer: Renderer) -> None:
    first = renderer.render(letter(Kind.THANK_YOU, referrals_from_office=1))
    regular = renderer.render(letter(Kind.THANK_YOU, referrals_from_office=12))
    assert first.text != regular.text and first.html != regular.html
    assert "first referral" in first.text and "glad to start working together" in first.text
    assert "continued trust" in regular.text and "first referral" not in regular.text
    for rendered in (first, regular):
        for body in (rendered.text, rendered.html or ""):
            assert "Dear Dr. Grace Hopper" in body
            assert "nurses, medical assistants and referral coordinators" in body


@pytest.mark.parametrize("count", [1, 2, 40])
def test_a_thank_you_never_offers_anything_of_value(renderer: Renderer, count: int) -> None:
    rendered = renderer.render(letter(Kind.THANK_YOU, referrals_from_office=count))
    assert FORBIDDEN.search(everything(rendered)) is None


def test_the_thank_you_does_not_name_the_patient(renderer: Renderer) -> None:
    rendered = renderer.render(letter(Kind.THANK_YOU))
    assert "Lovelace" not in everything(rendered)


def test_an_escalation_says_why_and_by_when_but_nothing_about_the_patient(renderer: Renderer) -> None:
    due = datetime(2026, 12, 14, 17, 0, tzinfo=ZoneInfo("America/New_York"))
    rendered = renderer.render(letter(Kind.ESCALATION, due_at=due))
    for body in (rendered.text, rendered.html or ""):
        assert ESCALATION in body and REFERENCE in body and "Referral Loop" in body
        assert "Monday 14 December 2026 at 17:00 EST" in body
    for phi in ("Ada", "Lovelace", "1980", "R07.9", "chest", "Hopper", "Harbor", "echo", "angina"):
        assert phi not in everything(rendered)


def test_an_escalation_without_a_reason_is_refused(renderer: Renderer) -> None:
    with pytest.raises(ValueError, match="escalation"):
        renderer.render(letter(Kind.ESCALATION, escalation=None))


def test_dates_read_in_words_and_moments_carry_their_zone() -> None:
    assert in_words(date(2026, 12, 1)) == "Tuesday 1 December 2026"
    assert in_words(date(1980, 4, 2), weekday=False) == "2 April 1980"
    summer = datetime(2026, 7, 3, 8, 5, tzinfo=ZoneInfo("America/Chicago"))
    assert in_words(summer) == "Friday 3 July 2026 at 08:05 CDT"
    with pytest.raises(ValueError, match="timezone-aware"):
        in_words(datetime(2026, 7, 3, 8, 5))


def test_a_subject_is_one_line_without_control_characters() -> None:
    assert one_line("Consult\r\nreport\x07 RL-1\u2028Bcc: x@y.example\x00") == (
        "Consult report RL-1 Bcc: x@y.example"
    )
    with pytest.raises(ValueError, match="empty"):
        one_line(" \n\t")


def test_an_override_replaces_one_template_and_the_rest_come_from_the_package(tmp_path: Path) -> None:
    (tmp_path / "thank_you.txt").write_text("Thanks from {{ practice.name }}, {{ provider.name }}.\n")
    renderer = Renderer(overrides_dir=tmp_path)
    thanks = renderer.render(letter(Kind.THANK_YOU))
    assert thanks.text == "Thanks from Northside Cardiology, Dr. Grace Hopper.\n"
    assert "nurses, medical assistants" in (thanks.html or "")
    assert thanks.subject == f"Thank you from Northside Cardiology ({REFERENCE})"
    assert SUMMARY.findings in renderer.render(letter(Kind.REPORT)).text


def test_an_override_of_the_layout_applies_to_every_kind(tmp_path: Path) -> None:
    (tmp_path / "layout.txt").write_text(
        "{% block body %}{% endblock %}\nCustom footer {{ practice.name }}\n"
    )
    renderer = Renderer(overrides_dir=tmp_path)
    for kind in Kind:
        assert renderer.render(letter(kind)).text.endswith("Custom footer Northside Cardiology\n")


def test_an_override_subject_is_made_one_line(tmp_path: Path) -> None:
    (tmp_path / "report.subject.txt").write_text("Consult\nreport\t{{ reference }}\n\n")
    assert Renderer(overrides_dir=tmp_path).render(letter()).subject == f"Consult report {REFERENCE}"


def test_a_missing_variable_in_an_override_raises_rather_than_rendering_blank(tmp_path: Path) -> None:
    (tmp_path / "thank_you.txt").write_text("Dear {{ provider.nickname }}, thanks from {{ practise }}.\n")
    with pytest.raises(UndefinedError):
        Renderer(overrides_dir=tmp_path).render(letter(Kind.THANK_YOU))


def test_an_override_subject_cannot_reach_the_patient(tmp_path: Path) -> None:
    (tmp_path / "report.subject.txt").write_text("Report for {{ patient.family_name }} {{ reference }}\n")
    with pytest.raises(UndefinedError):
        Renderer(overrides_dir=tmp_path).render(letter())


def test_an_override_escalation_cannot_reach_the_patient(tmp_path: Path) -> None:
    (tmp_path / "escalation.txt").write_text("{{ referral.patient.family_name }}\n")
    with pytest.raises(UndefinedError):
        Renderer(overrides_dir=tmp_path).render(letter(Kind.ESCALATION))


def test_printing_none_is_an_error_not_the_word_none(tmp_path: Path) -> None:
    (tmp_path / "acknowledgement.txt").write_text("Your reference: {{ referral.external_reference }}\n")
    renderer = Renderer(overrides_dir=tmp_path)
    with pytest.raises(TypeError, match="None"):
        renderer.render(letter(Kind.ACKNOWLEDGEMENT, referral={"external_reference": None}))


def test_templates_are_compiled_once_when_the_renderer_is_built(tmp_path: Path) -> None:
    override = tmp_path / "thank_you.txt"
    override.write_text("First version.\n")
    renderer = Renderer(overrides_dir=tmp_path)
    override.write_text("Second version.\n")
    assert renderer.render(letter(Kind.THANK_YOU)).text == "First version.\n"


def test_a_missing_overrides_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        Renderer(overrides_dir=tmp_path / "nowhere")
