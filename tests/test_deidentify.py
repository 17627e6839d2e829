"""De-identification (PS3.15 Basic Profile, dicognito): every profile attribute a file had, checked on
the bytes written and stored; UIDs consistent within an upload; the volume the same."""
import logging

import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.data import get_testdata_file

from volumes import services
from volumes.imaging.deidentify import EMPTIED, METHOD, REMOVED, REPLACED, Deidentifier
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Instance, Measurement, Series, Study

from .conftest import PHANTOM_DIR, SEED_FILE, SEED_VOLUME_MM3, SEED_VOXELS

SAMPLES = [SEED_FILE, get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")]
PHANTOM_SLICES = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:4]


def profile_values(dataset) -> dict[str, list]:
    """Each profile attribute present anywhere in `dataset` (nested too): keyword → its values."""
    found: dict[str, list] = {}

    def visit(ds, element):
        if element.keyword in REMOVED | EMPTIED | REPLACED:
            found.setdefault(element.keyword, []).append(element.value)

    dataset.walk(visit)
    return found


IDENTIFYING_VRS = {"PN", "DA", "DT", "TM", "UI"}
NOT_IDENTIFYING_UIDS = {"SOPClassUID", "ReferencedSOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
                        "ImplementationClassUID", "CodingSchemeUID"}
"""UIDs that name a kind of object or an encoding, the same for everyone: the profile keeps them."""


def identifying_values(dataset) -> set[tuple[str, str]]:
    """Every person name, date, time and instance UID in `dataset` (nested and file meta too), whatever
    its attribute: (keyword, value) pairs, so that a profile list missing an attribute cannot hide it."""
    found = set()
    for element in [*dataset.iterall(), *dataset.file_meta]:
        if element.VR in IDENTIFYING_VRS and element.keyword not in NOT_IDENTIFYING_UIDS and str(element.value):
            found.add((element.keyword, str(element.value)))
    return found


def assert_deidentified(original, written) -> None:
    before, after = profile_values(original), profile_values(written)
    for keyword in before:
        if keyword in REMOVED:
            assert keyword not in after, f"{keyword} kept"
        elif keyword in EMPTIED:
            assert all(value in ("", None) for value in after.get(keyword, [])), f"{keyword} not emptied"
        elif any(str(value) for value in before[keyword]):  # a value to replace (empty stays empty)
            assert after[keyword] != before[keyword], f"{keyword} unchanged"
            assert not {str(v) for v in before[keyword] if str(v)} & {str(v) for v in after[keyword]}, keyword
    assert not any(element.tag.is_private for element in written.iterall())
    kept = identifying_values(original) & identifying_values(written)
    assert not kept, f"names, dates, times or UIDs kept: {sorted(kept)}"
    assert written.PatientIdentityRemoved == "YES"
    assert written.DeidentificationMethod == METHOD
    assert written.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    assert written.PixelData == original.PixelData


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name if hasattr(p, "name") else str(p).rsplit("/", 1)[-1])
def test_every_profile_attribute_of_the_file_is_removed_emptied_or_replaced(path, tmp_path):
    target = tmp_path / "out.dcm"
    Deidentifier().deidentify_file(path, target)
    original = pydicom.dcmread(path)
    assert {"PatientName", "PatientID", "StudyDate", "StudyInstanceUID"} <= set(profile_values(original))
    assert_deidentified(original, pydicom.dcmread(target))


def test_uids_map_consistently_within_one_upload_and_differently_in_another(tmp_path):
    def uids(deidentifier, run):
        result = []
        for index, path in enumerate(PHANTOM_SLICES):
            target = tmp_path / f"{run}-{index}.dcm"
            deidentifier.deidentify_file(path, target)
            result.append(pydicom.dcmread(target))
        return result

    originals = [pydicom.dcmread(p) for p in PHANTOM_SLICES]
    first = uids(Deidentifier(), "a")
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({getattr(o, keyword) for o in originals}) == 1
        assert len({getattr(d, keyword) for d in first}) == 1, f"{keyword} not consistent"
        assert getattr(first[0], keyword) != getattr(originals[0], keyword)
    assert len({d.SOPInstanceUID for d in first}) == len(PHANTOM_SLICES)
    second = uids(Deidentifier(), "b")
    assert second[0].StudyInstanceUID != first[0].StudyInstanceUID
    for original, written in zip(originals, first):
        assert written.ImagePositionPatient == original.ImagePositionPatient
        assert written.PixelData == original.PixelData


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("ada", password="a-long-secret-1")


def ingest(owner, paths):
    return services.upload_ingest(
        owner=owner,
        files=[SimpleUploadedFile(path.name, path.read_bytes()) for path in paths],
        request=ThresholdRequest(mode="normalized", value=0.5),
    )


@pytest.mark.django_db
def test_the_stored_file_is_de_identified_and_measures_the_same_volume(
    owner, settings, caplog, django_capture_on_commit_callbacks
):
    settings.VOLUMES_DEIDENTIFY = True
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(owner, [SEED_FILE])
    original = pydicom.dcmread(SEED_FILE)
    instance = Instance.objects.get()
    with instance.file.open("rb") as stored:
        written = pydicom.dcmread(stored)
    assert_deidentified(original, written)
    study = Study.objects.get()
    assert study.study_instance_uid == written.StudyInstanceUID != original.StudyInstanceUID
    assert study.description == "" and Series.objects.get().description == ""
    assert instance.sop_instance_uid == written.SOPInstanceUID
    measurement = Measurement.objects.get()
    assert measurement.voxels_above == SEED_VOXELS
    assert measurement.volume_mm3 == pytest.approx(SEED_VOLUME_MM3, abs=1e-9)
    for secret in (str(original.PatientName), original.PatientID, original.StudyInstanceUID, original.AccessionNumber):
        assert secret not in caplog.text


@pytest.mark.django_db
def test_a_de_identified_series_is_one_series_with_the_volume_it_had(owner, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        plain_upload = ingest(owner, PHANTOM_SLICES)
    settings.VOLUMES_DEIDENTIFY = True
    with django_capture_on_commit_callbacks(execute=True):
        deidentified_upload = ingest(owner, PHANTOM_SLICES)
    plain, deidentified = (upload.measurements.get() for upload in (plain_upload, deidentified_upload))
    assert plain.volume_mm3 > 0
    assert deidentified.series != plain.series
    assert deidentified.series.instances.count() == len(PHANTOM_SLICES)
    assert (deidentified.voxels_above, deidentified.result["slices"]) == (plain.voxels_above, plain.result["slices"])
    assert deidentified.volume_mm3 == pytest.approx(plain.volume_mm3, rel=1e-12)
    assert Study.objects.count() == 2


@pytest.mark.django_db
def test_without_the_setting_files_are_stored_as_they_came(owner, settings, django_capture_on_commit_callbacks):
    settings.VOLUMES_DEIDENTIFY = False
    with django_capture_on_commit_callbacks(execute=True):
        ingest(owner, [SEED_FILE])
    with Instance.objects.get().file.open("rb") as stored:
        assert stored.read() == SEED_FILE.read_bytes()
