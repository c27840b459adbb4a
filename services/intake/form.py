"""The intake form: its flat HTML fields, and the mapping to and from the nested Referral model."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from contracts.fields import Email, EventTime, ICD10Code, LongText, Phone, ShortText
from contracts.referral import Channel, Priority, Referral, Sex
from services.intake.errors import field_errors

KEY_FIELD = "idempotency_key"
FORM_ERROR = "form"
"""Where an error that belongs to no single field is kept (shown in the summary only)."""
MAX_CODES = Referral.model_fields["diagnosis_codes"].metadata[0].max_length


def _limit(annotated: Any) -> int:
    """The maxLength the contracts put on a field type, so the form's `maxlength` cannot drift."""
    limit: int = TypeAdapter(annotated).json_schema()["maxLength"]
    return limit


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    path: tuple[str, ...]
    kind: str = "text"
    maxlength: int | None = _limit(ShortText)
    required: bool = False
    hint: str = ""
    options: tuple[tuple[str, str], ...] = ()
    default: str = ""


def _choices(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(labels.items())


SEX = _choices({Sex.UNKNOWN: "Not stated", Sex.FEMALE: "Female", Sex.MALE: "Male", Sex.OTHER: "Other"})
PRIORITY = _choices(
    {Priority.ROUTINE: "Routine", Priority.URGENT: "Urgent", Priority.ASAP: "ASAP", Priority.STAT: "STAT"}
)
CHANNEL = _choices(
    {
        Channel.WEB_FORM: "Web form",
        Channel.FAX: "Fax",
        Channel.PHONE: "Phone",
        Channel.PORTAL: "Portal",
        Channel.E_REFERRAL: "e-Referral",
        Channel.API: "API",
    }
)
PHONE_HINT = "International form, e.g. +1 555 010 0199"
F = FormField
# fmt: off
GROUPS: tuple[tuple[str, tuple[FormField, ...]], ...] = (
    ("Patient", (
        F("given_name", "Given name", ("patient", "given_name"), required=True),
        F("family_name", "Family name", ("patient", "family_name"), required=True),
        F("birth_date", "Date of birth", ("patient", "birth_date"), "date", None, required=True),
        F("sex", "Sex", ("patient", "sex"), "select", None, options=SEX, default=Sex.UNKNOWN),
        F("phone", "Patient phone", ("patient", "phone"), "tel", _limit(Phone), hint=PHONE_HINT),
        F("mrn", "Medical record number (MRN)", ("patient", "mrn")),
    )),
    ("Insurance (leave empty if none)", (
        F("payer", "Insurance payer", ("patient", "insurance", "payer")),
        F("member_id", "Member ID", ("patient", "insurance", "member_id")),
    )),
    ("Referring provider", (
        F("provider_name", "Provider name", ("referring_provider", "name"), required=True),
        F("provider_npi", "Provider NPI", ("referring_provider", "npi"), maxlength=10, required=True,
          hint="10 digits"),
    )),
    ("Referring clinic", (
        F("clinic_name", "Clinic name", ("referring_clinic", "name"), required=True),
        F("clinic_phone", "Clinic phone", ("referring_clinic", "phone"), "tel", _limit(Phone), hint=PHONE_HINT),
        F("clinic_fax", "Clinic fax", ("referring_clinic", "fax"), "tel", _limit(Phone), hint=PHONE_HINT),
        F("clinic_report_email", "Email for consult reports", ("referring_clinic", "report_email"), "email",
          _limit(Email)),
    )),
    ("Request", (
        F("requested_specialty", "Requested specialty", ("requested_specialty",), required=True),
        F("requested_provider", "Requested provider", ("requested_provider",)),
        F("requested_service", "Requested service", ("requested_service",)),
        F("reason", "Reason for referral", ("reason",), "textarea", _limit(LongText), required=True),
        F("diagnosis_codes", "Diagnosis codes (ICD-10-CM)", ("diagnosis_codes",),
          maxlength=MAX_CODES * (_limit(ICD10Code) + 2), hint="Separate with commas or spaces, e.g. R07.9, I10"),
        F("priority", "Priority", ("priority",), "select", None, options=PRIORITY, default=Priority.ROUTINE),
        F("requested_by", "Requested by (date)", ("requested_by",), "date", None),
        F("return_visit_on", "Patient's next visit with the referring provider", ("return_visit_on",), "date",
          None),
    )),
    ("Source", (
        F("channel", "Received by", ("channel",), "select", None, options=CHANNEL, default=Channel.WEB_FORM),
        F("external_reference", "Referring office's reference number", ("external_reference",)),
        F("received_at", "Received at", (), "datetime-local", None,
          hint="Practice local time; leave empty for now"),
    )),
)
# fmt: on
FIELDS = {f.name: f for _, group in GROUPS for f in group}


@dataclass(frozen=True)
class Parsed:
    referral: Referral | None
    received_at: datetime | None
    errors: dict[str, str]


def initial_values() -> dict[str, str]:
    return {f.name: f.default for f in FIELDS.values() if f.default}


def flat_values(items: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """The form's own text fields from a submitted form; anything else (files, unknown names) is ignored."""
    return {k: v for k, v in items if isinstance(v, str) and (k in FIELDS or k == KEY_FIELD)}


def split_codes(text: str) -> list[str]:
    return [code for code in re.split(r"[\s,;]+", text) if code]


def nested(values: Mapping[str, str]) -> dict[str, Any]:
    """The Referral's nested dict: empty fields left out, so an empty insurance group is no insurance."""
    data: dict[str, Any] = {"patient": {}, "referring_provider": {}, "referring_clinic": {}}
    for field in FIELDS.values():
        raw = values.get(field.name, "").strip()
        if not raw or not field.path:
            continue
        *parents, leaf = field.path
        target = data
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = split_codes(raw) if field.name == "diagnosis_codes" else raw
    return data


def parse(values: Mapping[str, str]) -> Parsed:
    """Validate the flat form against the Referral contract; errors keyed by form field name."""
    errors: dict[str, str] = {}
    received_at = _received_at(values.get("received_at", "").strip(), errors)
    referral: Referral | None = None
    try:
        referral = Referral.model_validate(nested(values))
    except ValidationError as error:
        for problem in field_errors(list(error.errors())):
            _add(errors, *_locate(problem["field"], problem["message"]))
    if errors:
        return Parsed(None, None, errors)
    return Parsed(referral, received_at, {})


_RECEIVED_AT: TypeAdapter[datetime] = TypeAdapter(EventTime)


def _received_at(raw: str, errors: dict[str, str]) -> datetime | None:
    """A datetime-local value is the practice's local time: this server's time zone."""
    if not raw:
        return None
    try:
        typed = datetime.fromisoformat(raw)
        aware = typed.astimezone() if typed.tzinfo is None else typed
    except (ValueError, OverflowError):
        errors["received_at"] = "enter a date and time, e.g. 2025-05-01 09:30"
        return None
    try:
        return _RECEIVED_AT.validate_python(aware)
    except ValidationError as error:
        errors["received_at"] = "the time received " + str(error.errors()[0]["msg"]).removeprefix(
            "Value error, "
        )
        return None


def _locate(dotted: str, message: str) -> tuple[str, str]:
    """`patient.birth_date` -> (`birth_date`, message); `diagnosis_codes.1` -> the codes field, `code 2: ...`."""
    message = "this field is required" if message == "Field required" else message
    for field in FIELDS.values():
        path = ".".join(field.path)
        if field.path and dotted == path:
            return field.name, message
        if field.path and dotted.startswith(path + "."):
            index = dotted.removeprefix(path + ".").split(".")[0]
            return field.name, f"code {int(index) + 1}: {message}" if index.isdigit() else message
    return FORM_ERROR, message


def _add(errors: dict[str, str], name: str, message: str) -> None:
    errors[name] = f"{errors[name]}; {message}" if name in errors else message
