"""De-identification of DICOM files after DICOM PS3.15 Annex E's Basic Application Level
Confidentiality Profile: every action of Table E.1-1's Basic Profile column, read from
`basic_profile.tsv` beside this module (its header names the source), applied to every attribute
present, nested ones too. No Django here: a file in, a de-identified file out.

dicognito (pinned in requirements.txt) does what needs a memory of the upload: it replaces names and
IDs by dummy values, shifts every date and time by one offset (intervals are kept) and remaps every UID
(the file meta's too) the same way in every file given to one `Deidentifier`, so a study's series and
frames of reference still hold together. The table then decides, attribute by attribute:

- X (remove), Z (empty), D (dummy), U (new UID), as the profile says;
- where the profile allows a dummy value (Z, D, Z/D, X/Z, X/D, X/Z/D), a value dicognito replaced is
  kept: its dummy name or ID, or its date or time shifted by the upload's one offset (the Retain
  Longitudinal Temporal Information with Modified Dates Option, declared in the file). Intervals then
  survive, so time points told apart by Acquisition Time stay apart and the volume is the same;
- otherwise the combined actions resolve to the strictest choice: X/Z, X/D, X/Z/D and X/Z/U* remove,
  Z and Z/D empty. None of them is an attribute a volume is made of (pixel data, spacing, positions,
  orientation, rescale are not in the table: kept);
- a D that dicognito left as it was (a label, an ID of a device) gets a dummy of its VR; a D or Z
  sequence (Content Sequence, Graphic Annotation Sequence...) is emptied, since its items hold free text;
- a U that dicognito left as it was (it keeps UIDs whose keyword ends in ClassUID, the profile remaps
  Manufacturer's Device Class UID) gets a new UID, the same for the same value within the upload.

Private attributes (the table's row without a tag) are removed, curves (50xx) and overlay data and
comments (60xx,3000 and 60xx,4000) too. The pixel data is never touched, so the volume is the same.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import dicognito
import pydicom
from dicognito.anonymizer import Anonymizer
from dicognito.datetimeanonymizer import DateTimeAnonymizer
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

PROFILE_FILE = Path(__file__).with_name("basic_profile.tsv")
"""PS3.15 Table E.1-1's Basic Profile column: tag, action, name (tab-separated, # comments)."""
RESOLVED_ACTIONS = {"X": "X", "Z": "Z", "D": "D", "U": "U",
                    "X/Z": "X", "X/D": "X", "X/Z/D": "X", "X/Z/U*": "X", "Z/D": "Z"}
"""The table's actions, the combined ones resolved to the strictest choice (remove, else empty) where
dicognito did not replace the value."""
DUMMY_ALLOWED = frozenset({"Z", "D", "Z/D", "X/Z", "X/D", "X/Z/D"})
"""Actions under which a dummy value consistent with the VR may stand: dicognito's replacement is kept."""
BEYOND_PROFILE = frozenset({"InstanceCreationDate", "InstanceCreationTime"})
"""Not in the table, removed all the same: dicognito shifts a time only beside its date, and the
creation time of an instance would otherwise stay as it was."""
METHOD = f"PS3.15 E.1.1 Basic Profile, Modified Dates (dicognito {dicognito.__version__})"
"""De-identification Method (0012,0063), a LO: 64 characters at most."""
PROFILE_CODES = (("113100", "DCM", "Basic Application Confidentiality Profile"),
                 ("113107", "DCM", "Retain Longitudinal Temporal Information Modified Dates Option"))
DUMMY_TEXT = "ANONYMIZED"
DUMMY_BY_VR = {"PN": "ANONYMIZED", "DA": "19000101", "TM": "000000", "DT": "19000101000000",
               "DS": "0", "IS": "0", "AS": "000Y"}
"""Dummy values (action D) by VR; other text VRs get DUMMY_TEXT, numbers 0, bytes two zero bytes."""
NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"})
BYTE_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})


@dataclass(frozen=True)
class ProfileRow:
    """One row of the table: a tag, with `mask` zero on its xx digits; the action as written and
    as applied."""

    tag: int
    mask: int
    action: str
    name: str

    @property
    def applied(self) -> str:
        return RESOLVED_ACTIONS[self.action]

    def matches(self, tag: int) -> bool:
        return tag & self.mask == self.tag


def read_profile(path: Path = PROFILE_FILE) -> list[ProfileRow]:
    """The rows of the table file, in its order (the tag "50xx,xxxx" matches any digit on its x's)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        tag_text, action, name = line.split("\t")
        digits = tag_text.replace(",", "")
        tag = int(digits.replace("x", "0").replace("X", "0"), 16)
        mask = int("".join("0" if d in "xX" else "F" for d in digits), 16)
        if action not in RESOLVED_ACTIONS:
            raise ValueError(f"{path.name}: unknown action {action!r} for {tag_text}")
        rows.append(ProfileRow(tag=tag, mask=mask, action=action, name=name))
    return rows


class BasicProfile:
    """The table, looked up by tag: exact tags in a dict, the few with xx digits scanned."""

    def __init__(self, rows: list[ProfileRow]):
        self._exact = {row.tag: row for row in rows if row.mask == 0xFFFFFFFF}
        self._masked = [row for row in rows if row.mask != 0xFFFFFFFF]

    def row_for(self, tag: int) -> ProfileRow | None:
        row = self._exact.get(tag)
        if row is None:
            row = next((r for r in self._masked if r.matches(tag)), None)
        return row


def anonymizer_moving_times(seed: str | None) -> Anonymizer:
    """dicognito's Anonymizer, with a date offset that moves the time of day too.

    dicognito shifts dates and times by a random whole number of hours; one draw in 24 is whole days,
    which would leave every time as it was. Such a draw is made again (from a seed derived from the
    given one, so a seeded Deidentifier stays reproducible)."""
    draw = 0
    while True:
        anonymizer = Anonymizer(seed=None if seed is None else f"{seed}-{draw}" if draw else seed)
        offsets = [h.offset for h in anonymizer._element_handlers if isinstance(h, DateTimeAnonymizer)]
        if not offsets or offsets[0] % datetime.timedelta(days=1):
            return anonymizer
        draw += 1


class DeidentificationFailed(Exception):
    """A file could not be de-identified (the message never quotes its content)."""


class Deidentifier:
    """De-identifies the files of one upload, remapping its UIDs consistently from file to file."""

    def __init__(self, seed: str | None = None, profile: BasicProfile | None = None):
        self._anonymizer = anonymizer_moving_times(seed)
        self._profile = profile or BasicProfile(read_profile())
        self._new_uids: dict[str, str] = {}

    def deidentify_file(self, source: Path, target: Path) -> None:
        """Write `source` de-identified to `target` (the pixel data byte for byte as it was)."""
        try:
            dataset = pydicom.dcmread(source)
            self.deidentify(dataset)
            dataset.save_as(target)
        except Exception as error:
            raise DeidentificationFailed(f"could not be de-identified ({type(error).__name__})") from None

    def deidentify(self, dataset: Dataset) -> Dataset:
        """De-identify `dataset` in place and return it."""
        before = self._values_to_replace(dataset)
        self._anonymizer.anonymize(dataset)
        dataset.remove_private_tags()
        self._apply(dataset, before)
        dataset.PatientIdentityRemoved = "YES"
        dataset.DeidentificationMethod = METHOD
        dataset.LongitudinalTemporalInformationModified = "MODIFIED"
        dataset.DeidentificationMethodCodeSequence = [coded(*code) for code in PROFILE_CODES]
        return dataset

    def _values_to_replace(self, dataset: Dataset) -> dict[tuple[int, int], object]:
        """The values of the table's attributes before dicognito, by (item, tag): afterwards they tell
        what dicognito replaced."""
        found = {}
        for item in datasets_within(dataset):
            for element in item:
                row = self._profile.row_for(element.tag)
                if row is not None and element.VR != "SQ":
                    found[id(item), element.tag] = element.value
        return found

    def _apply(self, dataset: Dataset, before: dict[tuple[int, int], object]) -> None:
        """Apply the table to `dataset` and every item nested in it, after dicognito."""
        for item in datasets_within(dataset):
            for element in list(item):
                row = self._profile.row_for(element.tag)
                if element.keyword in BEYOND_PROFILE:
                    del item[element.tag]
                elif row is not None:
                    key = (id(item), element.tag)
                    replaced = not element.is_empty and key in before and element.value != before[key]
                    self._apply_row(item, element, row, replaced)

    def _apply_row(self, item: Dataset, element: DataElement, row: ProfileRow, replaced: bool) -> None:
        if row.applied == "X" and not (replaced and row.action in DUMMY_ALLOWED):
            del item[element.tag]
        elif element.VR == "SQ":
            element.value = []
        elif replaced:
            return  # dicognito's dummy, shifted date or new UID
        elif row.applied == "Z":
            element.value = element.empty_value
        elif element.is_empty:
            return
        elif row.applied == "D":
            element.value = dummy_value(element)
        else:
            element.value = self._remapped(element.value)

    def _remapped(self, value):
        """A new UID for each UID in `value`, the same for the same UID within this upload."""
        if isinstance(value, str):
            return self._new_uids.setdefault(value, generate_uid())
        return [self._new_uids.setdefault(v, generate_uid()) for v in value]


def datasets_within(dataset: Dataset) -> list[Dataset]:
    """`dataset` and every item of its sequences, nested at any depth."""
    found, pending = [], [dataset]
    while pending:
        item = pending.pop()
        found.append(item)
        pending.extend(child for element in item if element.VR == "SQ" for child in element.value)
    return found


def coded(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def dummy_value(element: DataElement):
    """A non-empty value of the element's VR that says nothing (action D)."""
    if element.VR in DUMMY_BY_VR:
        return DUMMY_BY_VR[element.VR]
    if element.VR in NUMBER_VRS:
        return 0
    if element.VR in BYTE_VRS:
        return b"\0\0"
    return DUMMY_TEXT
