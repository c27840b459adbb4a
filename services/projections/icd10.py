"""ICD-10-CM chapters: the "what kind of patient" a referral's first diagnosis code says."""

from __future__ import annotations

CHAPTERS: list[tuple[str, str, str]] = [
    ("A00", "B99", "Infectious and parasitic diseases"),
    ("C00", "D49", "Neoplasms"),
    ("D50", "D89", "Blood and immune disorders"),
    ("E00", "E89", "Endocrine, nutritional and metabolic diseases"),
    ("F01", "F99", "Mental and behavioural disorders"),
    ("G00", "G99", "Nervous system"),
    ("H00", "H59", "Eye and adnexa"),
    ("H60", "H95", "Ear and mastoid process"),
    ("I00", "I99", "Circulatory system"),
    ("J00", "J99", "Respiratory system"),
    ("K00", "K95", "Digestive system"),
    ("L00", "L99", "Skin and subcutaneous tissue"),
    ("M00", "M99", "Musculoskeletal system and connective tissue"),
    ("N00", "N99", "Genitourinary system"),
    ("O00", "O9A", "Pregnancy, childbirth and the puerperium"),
    ("P00", "P96", "Perinatal conditions"),
    ("Q00", "Q99", "Congenital malformations"),
    ("R00", "R99", "Symptoms, signs and abnormal findings"),
    ("S00", "T88", "Injury and poisoning"),
    ("V00", "Y99", "External causes of morbidity"),
    ("Z00", "Z99", "Factors influencing health status"),
    ("U00", "U85", "Codes for special purposes"),
]
UNCODED = "No diagnosis code"


def chapter(code: str | None) -> str:
    """The chapter of an ICD-10-CM code by its first three characters; UNCODED for none."""
    if not code:
        return UNCODED
    category = code[:3].upper()
    for first, last, name in CHAPTERS:
        if first <= category <= last:
            return name
    return UNCODED
