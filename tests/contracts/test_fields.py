"""The edges of each field type, with the present injected (validation context `now`), never read
from the machine: what the edge accepts and refuses, and what a recorded fact may still carry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.fields import (
    NPI,
    BirthDate,
    EventTime,
    ICD10Code,
    LongText,
    Phone,
    RecordedTime,
    ScheduledDate,
    ScheduledTime,
    ShortText,
)
from contracts.forgetting import FORGOTTEN_BIRTH_DATE, FORGOTTEN_CONTEXT, STORED_CONTEXT

NOW = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
AT_EDGE = {"now": NOW}


def valid(kind: Any, value: Any, context: dict[str, Any] | None = None) -> Any:
    return TypeAdapter(kind).validate_python(value, context=AT_EDGE if context is None else context)


def refused(kind: Any, value: Any, context: dict[str, Any] | None = None) -> str:
    with pytest.raises(ValidationError) as caught:
        valid(kind, value, context)
    return str(caught.value.errors()[0]["msg"])


class TestBirthDate:
    def test_today_is_a_birth_date(self) -> None:
        assert valid(BirthDate, NOW.date()) == NOW.date()

    def test_tomorrow_in_the_earliest_time_zone_is_still_today_somewhere(self) -> None:
        late = {"now": datetime(2026, 3, 15, 10, 0, tzinfo=UTC)}  # 00:00 on the 16th in UTC+14
        assert valid(BirthDate, date(2026, 3, 16), late) == date(2026, 3, 16)
        assert "future" in refused(BirthDate, date(2026, 3, 16))  # 23:30 on the 15th in UTC+14

    def test_the_day_after_tomorrow_is_in_the_future(self) -> None:
        assert "cannot be in the future" in refused(BirthDate, date(2026, 3, 17))

    def test_exactly_130_years_ago_is_plausible_and_a_day_more_is_not(self) -> None:
        assert valid(BirthDate, date(1896, 3, 15)) == date(1896, 3, 15)
        assert "more than 130 years ago" in refused(BirthDate, date(1896, 3, 14))

    def test_born_on_29_february_counts_back_to_the_28th(self) -> None:
        leap = {"now": datetime(2028, 2, 29, 12, tzinfo=UTC)}
        assert valid(BirthDate, date(1898, 2, 28), leap) == date(1898, 2, 28)
        assert "130 years" in refused(BirthDate, date(1898, 2, 27), leap)

    def test_the_erased_placeholder_is_accepted_only_from_a_forgotten_patients_record(self) -> None:
        assert valid(BirthDate, FORGOTTEN_BIRTH_DATE, FORGOTTEN_CONTEXT) == FORGOTTEN_BIRTH_DATE
        assert "plausible" in refused(BirthDate, FORGOTTEN_BIRTH_DATE)
        assert "plausible" in refused(BirthDate, FORGOTTEN_BIRTH_DATE, STORED_CONTEXT)

    def test_a_recorded_birth_date_older_than_130_years_now_still_replays(self) -> None:
        assert valid(BirthDate, date(1880, 1, 1), STORED_CONTEXT) == date(1880, 1, 1)
        assert "plausible" in refused(BirthDate, date(1849, 12, 31), STORED_CONTEXT)


class TestEventTime:
    def test_a_few_minutes_ahead_is_clock_skew_and_more_is_the_future(self) -> None:
        assert valid(EventTime, NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=5)
        assert "cannot be in the future" in refused(EventTime, NOW + timedelta(minutes=5, seconds=1))

    def test_nothing_happened_before_1990(self) -> None:
        assert valid(EventTime, datetime(1990, 1, 1, tzinfo=UTC))
        assert "greater than or equal to 1990-01-01T00:00:00Z" in refused(
            EventTime, datetime(1989, 12, 31, 23, 59, tzinfo=UTC)
        )

    @pytest.mark.parametrize("text", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
    def test_the_ends_of_the_calendar_are_refused_at_the_edge_and_in_a_store(self, text: str) -> None:
        refused(EventTime, text)
        refused(EventTime, text, STORED_CONTEXT)

    def test_a_recorded_time_ahead_of_the_clock_replays(self) -> None:
        ahead = datetime(2150, 1, 1, tzinfo=UTC)
        assert valid(EventTime, ahead, STORED_CONTEXT) == ahead
        assert "less than 2200-01-01" in refused(EventTime, datetime(2200, 1, 1, tzinfo=UTC), STORED_CONTEXT)

    def test_a_system_time_has_only_the_absolute_range(self) -> None:
        assert valid(RecordedTime, datetime(2199, 12, 31, tzinfo=UTC))
        assert "less than 2200-01-01" in refused(RecordedTime, datetime(2200, 1, 1, tzinfo=UTC))
        assert "greater than or equal to 1990-01-01" in refused(
            RecordedTime, datetime(1989, 12, 31, tzinfo=UTC)
        )


class TestScheduled:
    def test_appointments_lie_within_five_years_of_today(self) -> None:
        assert valid(ScheduledTime, datetime(2031, 3, 15, 23, tzinfo=UTC))
        assert valid(ScheduledTime, datetime(2021, 3, 15, tzinfo=UTC))
        assert "within 5 years" in refused(ScheduledTime, datetime(2031, 3, 16, tzinfo=UTC))
        assert "within 5 years" in refused(ScheduledTime, datetime(2021, 3, 14, 23, tzinfo=UTC))

    def test_return_visits_likewise_and_year_0001_never(self) -> None:
        assert valid(ScheduledDate, date(2031, 3, 15)) == date(2031, 3, 15)
        assert "within 5 years" in refused(ScheduledDate, date(2031, 3, 16))
        assert "greater than or equal to 1990-01-01" in refused(ScheduledDate, date(1, 1, 1))
        assert "greater than or equal to 1990-01-01" in refused(ScheduledDate, date(1, 1, 1), STORED_CONTEXT)

    def test_a_recorded_visit_replays_years_later(self) -> None:
        assert valid(ScheduledDate, date(2010, 6, 1), STORED_CONTEXT) == date(2010, 6, 1)


class TestDiagnosisCodes:
    @pytest.mark.parametrize(
        ("code", "written"),
        [
            ("C7A.010", "C7A.010"),
            ("M1A.0", "M1A.0"),
            ("e119", "E11.9"),
            ("S72001A", "S72.001A"),
            ("I10", "I10"),
        ],
    )
    def test_codes_of_the_code_set_are_taken_with_their_dot(self, code: str, written: str) -> None:
        assert valid(ICD10Code, code) == written

    @pytest.mark.parametrize("code", ["IA0", "I10.", "I1"])
    def test_a_code_of_the_wrong_shape_is_refused_even_from_a_store(self, code: str) -> None:
        assert refused(ICD10Code, code, STORED_CONTEXT) == (
            "Value error, an ICD-10-CM code is a letter, a digit, a character, then up to four more "
            "(e.g. I10, E11.9)"
        )

    @pytest.mark.parametrize("code", ["Z99.ZZZZ", "A00.0000", "I10.9"])
    def test_a_well_shaped_code_outside_the_code_set_is_refused_at_the_edge(self, code: str) -> None:
        assert "not in the ICD-10-CM code set" in refused(ICD10Code, code)

    def test_a_recorded_code_is_checked_for_its_shape_only(self) -> None:
        assert valid(ICD10Code, "Z99.ZZZZ", STORED_CONTEXT) == "Z99.ZZZZ"


class TestPhones:
    @pytest.mark.parametrize(
        "number", ["(555) 010-0199", "555.010.0199", "+1 555 010 0199", "1-555-010-0199"]
    )
    def test_a_us_practice_takes_national_and_international_forms(self, number: str) -> None:
        assert valid(Phone, number) == "+15550100199"

    def test_the_practices_region_completes_a_national_number(self) -> None:
        assert valid(Phone, "020 7946 0958", {"now": NOW, "phone_region": "GB"}) == "+442079460958"

    @pytest.mark.parametrize("number", ["555-0199", "12", "+1 555 010 01999999"])
    def test_an_incomplete_or_overlong_number_is_refused(self, number: str) -> None:
        assert "not a complete phone number" in refused(Phone, number)

    def test_a_number_longer_than_32_characters_is_refused_before_parsing(self) -> None:
        assert "at most 32 characters" in refused(Phone, "+1 555 010 0199" + " " * 18)


class TestNpi:
    @pytest.mark.parametrize("npi", ["123456789", "12345678931", "12345678A3"])
    def test_an_npi_is_exactly_ten_digits(self, npi: str) -> None:
        assert refused(NPI, npi) == "Value error, an NPI is exactly 10 digits"

    def test_surrounding_spaces_are_stripped_and_the_check_digit_verified(self) -> None:
        assert valid(NPI, " 1234567893 ") == "1234567893"
        assert (
            refused(NPI, "1234567890") == "Value error, this NPI's check digit is wrong; check it for a typo"
        )


class TestText:
    def test_one_line_text_is_stripped_and_bounded_at_200(self) -> None:
        assert valid(ShortText, "  Ada  ") == "Ada"
        assert valid(ShortText, "x" * 200) == "x" * 200
        assert "at most 200 characters" in refused(ShortText, "x" * 201)

    def test_long_text_is_bounded_at_4000(self) -> None:
        assert valid(LongText, "x" * 4000) == "x" * 4000
        assert "at most 4000 characters" in refused(LongText, "x" * 4001)

    @pytest.mark.parametrize("char", ["\r", "\n", "\x00", "\x1b", "\t", "\u202e", "\u2066", "\u2028", "\x85"])
    def test_one_line_text_refuses_breaks_controls_and_direction_overrides(self, char: str) -> None:
        assert "control or text-direction character" in refused(ShortText, f"Ada{char}Lovelace")

    @pytest.mark.parametrize("char", ["\x00", "\x1b", "\u202e", "\u2069", "\x7f"])
    def test_long_text_refuses_controls_and_direction_overrides(self, char: str) -> None:
        assert "control or text-direction character" in refused(LongText, f"chest{char}pain")

    def test_long_text_keeps_its_lines_and_tabs(self) -> None:
        assert valid(LongText, "Findings:\r\n\tnormal") == "Findings:\r\n\tnormal"

    def test_recorded_text_replays_as_it_was_recorded(self) -> None:
        assert valid(ShortText, "Ada\x1bLovelace", STORED_CONTEXT) == "Ada\x1bLovelace"
