"""End to end: a referral posted to intake gets its acknowledgement, report and thank-you by email."""

from __future__ import annotations

from email.message import EmailMessage

from tests.e2e.conftest import Stack, until, until_ok
from tests.support import referrals as make

SUMMARY = {
    "specialist": "Dr. Ada Byron",
    "findings": "Normal echocardiogram; <b>no</b> wall motion abnormality.",
    "assessment": "Stable angina.",
    "plan": "Start a beta blocker; stress test in 6 weeks.",
    "recommendations": "Recheck blood pressure in 4 weeks.",
}


def mail(stack: Stack, subject_part: str) -> list[EmailMessage]:
    return [m for m in stack.sink.messages() if subject_part in str(m["Subject"])]


async def timeline(stack: Stack, rid: str) -> list[str]:
    return [e["type"] for e in (await stack.client.get(f"/api/referrals/{rid}")).json()["timeline"]]


async def test_the_referring_office_hears_back_at_every_step(stack: Stack) -> None:
    posted = await stack.client.post("/api/referrals", json=make.referral_body())
    rid = posted.json()["referral_id"]
    await until(lambda: len(mail(stack, "Referral received")) == 1, "the acknowledgement")
    await until_ok(stack.client, f"/api/referrals/{rid}")
    for action, body in (("return-visit", {"return_visit_on": "2027-01-15"}), ("seen", SUMMARY)):
        response = await stack.client.post(f"/api/referrals/{rid}/{action}", json=body)
        assert response.status_code == 202, response.text
    await until(
        lambda: len(mail(stack, "Consult report")) == 1 and len(mail(stack, "Thank you")) == 1, "report"
    )
    (report,) = mail(stack, "Consult report")
    reference = f"RL-{rid.replace('-', '')[:8].upper()}"
    assert reference in str(report["Subject"]) and report["X-Referral-Reference"] == reference
    assert report["To"] == "reports@harbor.example"
    assert report["Message-ID"] == f"<report.{rid}@practice.example>"
    for header in ("Subject", "From", "To", "X-Referral-Reference"):
        assert "Lovelace" not in str(report[header]) and "R07.9" not in str(report[header])
    html = report.get_body(("html",))
    assert html is not None and "&lt;b&gt;no&lt;/b&gt;" in html.get_content()
    (thanks,) = mail(stack, "Thank you")
    text = thanks.get_body(("plain",))
    assert text is not None and "Hopper" in text.get_content()
    wanted = {"AcknowledgementSent", "ReportSent", "ThankYouSent"}

    async def recorded() -> bool:
        return wanted <= set(await timeline(stack, rid))

    await until(recorded, "the sends in the referral's timeline")
