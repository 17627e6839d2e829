"""De-identification of DICOM files after DICOM PS3.15 Annex E's Basic Application Level
Confidentiality Profile, with dicognito. No Django here: a file in, a de-identified file out.

dicognito replaces names, IDs, addresses and institution names by dummy values, shifts every date and
time by one offset (intervals are kept) and remaps every UID (the file meta's too). What it keeps and
the profile does not, this module removes or empties: private attributes, the descriptions, and the
patient's age, sex, size, weight and history. The pixel data is never touched, so the volume is the
same. One `Deidentifier` per upload: UIDs then map the same way in every file of a study, so its
series and frames of reference still hold together.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import dicognito
import pydicom
from dicognito.anonymizer import Anonymizer
from dicognito.datetimeanonymizer import DateTimeAnonymizer
from pydicom.dataset import Dataset

REMOVED = frozenset({
    # the patient, beyond name and ID
    "PatientAge", "PatientSize", "PatientWeight", "PatientAddress", "PatientTelephoneNumbers", "PatientBirthTime",
    "PatientBirthName", "PatientMotherBirthName", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames",
    "IssuerOfPatientID", "MedicalRecordLocator", "EthnicGroup", "Occupation", "AdditionalPatientHistory",
    "PatientComments", "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence", "MedicalAlerts",
    "Allergies", "SmokingStatus", "PregnancyStatus", "LastMenstrualDate", "PatientReligiousPreference",
    "ReferencedPatientSequence", "PatientState", "SpecialNeeds",
    # people and places
    "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "OperatorsName", "PhysiciansOfRecord",
    "RequestingPhysician", "ResponsiblePerson", "InstitutionAddress", "InstitutionalDepartmentName",
    "DeviceSerialNumber",
    # free text that may name anyone or anything
    "StudyDescription", "SeriesDescription", "ImageComments", "ProtocolName", "RequestedProcedureDescription",
    "PerformedProcedureStepDescription", "PerformedProcedureStepID", "AdmittingDiagnosesDescription",
    "DerivationDescription", "AcquisitionComments", "RequestAttributesSequence", "ReasonForStudy",
    "RequestedProcedureID", "ScheduledProcedureStepID", "StudyComments", "InterpretationText",
    # dicognito shifts a time only beside its date: without one it would stay as it was
    "InstanceCreationDate", "InstanceCreationTime",
})
"""Attributes the profile removes (action X) that dicognito keeps: deleted wherever they occur."""
EMPTIED = frozenset({"PatientSex", "PatientBirthDate", "ReferringPhysicianName"})
"""Attributes the profile keeps empty (action Z)."""
REPLACED = frozenset({
    "PatientName", "PatientID", "AccessionNumber", "StudyID", "InstitutionName", "StationName",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime",
    "AcquisitionTime", "ContentTime", "AcquisitionDateTime",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "InstanceCreatorUID",
    "IrradiationEventUID", "ReferencedSOPInstanceUID",
})
"""Attributes dicognito replaces by dummy values (names, IDs), shifted values (dates, times) or new UIDs."""
METHOD = f"PS3.15 E.1.1 Basic Profile (dicognito {dicognito.__version__})"
"""De-identification Method (0012,0063), a LO: 64 characters at most."""
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")


def anonymizer_moving_times(seed: str | None) -> Anonymizer:
    """dicognito's Anonymizer, with a date offset that moves the time of day too.

    dicognito shifts dates and times by a random whole number of hours; one draw in 24 is whole days,
    which would leave every time (Study Time, Acquisition Time...) as it was. Such a draw is made again
    (from a seed derived from the given one, so a seeded Deidentifier stays reproducible)."""
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

    def __init__(self, seed: str | None = None):
        self._anonymizer = anonymizer_moving_times(seed)

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
        self._anonymizer.anonymize(dataset)
        dataset.remove_private_tags()
        apply_profile(dataset)
        dataset.PatientIdentityRemoved = "YES"
        dataset.DeidentificationMethod = METHOD
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = BASIC_PROFILE_CODE
        dataset.DeidentificationMethodCodeSequence = [code]
        return dataset


def apply_profile(dataset: Dataset) -> None:
    """Remove the REMOVED attributes and empty the EMPTIED ones, in nested sequences too."""
    for keyword in REMOVED & set(dataset.dir()):
        delattr(dataset, keyword)
    for keyword in EMPTIED & set(dataset.dir()):
        dataset[keyword].value = ""
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value:
                apply_profile(item)
