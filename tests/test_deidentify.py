"""De-identification (PS3.15 Basic Profile, dicognito): every attribute of the profile's table, checked on
the bytes written and stored; UIDs consistent within an upload; the volume the same."""
import datetime
import logging
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from volumes import services
from volumes.imaging import deidentify
from volumes.imaging.deidentify import METHOD, Deidentifier
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Instance, Measurement, Series, Study

from .conftest import PHANTOM_DIR, SEED_FILE, SEED_VOLUME_MM3, SEED_VOXELS

SAMPLES = [SEED_FILE, get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")]
PHANTOM_SLICES = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:4]
OUTCOMES = {"X": "removed", "X/Z/U*": "removed", "X/Z": "removed or replaced", "X/D": "removed or replaced",
            "X/Z/D": "removed or replaced", "Z": "emptied or replaced", "Z/D": "emptied or replaced",
            "D": "dummy", "U": "new UID"}
"""What each action of the table may leave in the file: where a dummy may stand, dicognito's replacement
(a dummy name, a shifted date), else the strictest choice."""


def table() -> dict[int, tuple[str, str]]:
    """PS3.15 Table E.1-1's Basic Profile column, read here from the module's data file: tag → (action,
    name), a tag with xx digits given its first concrete value (50xx,xxxx as Curve Data, 5000,3000)."""
    rows = {}
    for line in Path(deidentify.__file__).with_name("basic_profile.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            tag, action, name = line.split("\t")
            digits = "50003000" if tag == "50xx,xxxx" else tag.replace(",", "").replace("x", "0")
            rows[int(digits, 16)] = (action, name)
    return rows


TABLE = table()


def outcome_of(tag: int, keyword: str) -> str | None:
    if tag >> 16 & 1:
        return "removed"  # private
    if keyword in deidentify.BEYOND_PROFILE:
        return "removed"
    if tag >> 24 == 0x50 or (tag >> 24 == 0x60 and tag & 0xFFFF in (0x3000, 0x4000)):
        return "removed"  # curves, overlay data and comments in any group of the range
    return OUTCOMES[TABLE[tag][0]] if tag in TABLE else None


def values_by_tag(dataset) -> dict[int, list]:
    """Each attribute anywhere in `dataset` (nested too): tag → its values."""
    found: dict[int, list] = {}
    for element in dataset.iterall():
        found.setdefault(int(element.tag), []).append(element.value)
    return found


def assert_outcome(tag: int, outcome: str, before: list, after: list) -> None:
    """The attribute `tag`, whose values were `before` anywhere in a file, has `after` as the table says
    (fewer values when a sequence holding some was removed)."""
    name = TABLE.get(tag, ("", hex(tag)))[1]
    empty = ("", None, [], b"")
    if outcome == "removed" or (outcome == "removed or replaced" and isinstance(before[0], list)):
        assert not after, f"{name} kept"
    elif outcome in ("emptied or replaced", "dummy") and isinstance(before[0], list):
        assert all(value in empty for value in after), f"{name} not emptied"
    elif outcome in ("removed or replaced", "emptied or replaced"):
        replaced = [v for v in before if v not in empty]
        assert not {str(v) for v in replaced} & {str(v) for v in after if v not in empty}, f"{name} kept"
    else:
        replaced = [v for v in before if v not in ("", None)]
        assert not {str(v) for v in replaced} & {str(v) for v in after}, f"{name} kept"
        assert all(str(v) for v in after) or not replaced, f"{name} emptied"


IDENTIFYING_VRS = {"PN", "DA", "DT", "TM", "UI"}
NOT_IDENTIFYING_UIDS = {"SOPClassUID", "ReferencedSOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
                        "ImplementationClassUID", "CodingSchemeUID"}
"""UIDs that name a kind of object or an encoding, the same for everyone: the profile keeps them."""


def identifying_values(dataset) -> set[tuple[str, str]]:
    """Every person name, date, time and instance UID in `dataset` (nested and file meta too), whatever
    its attribute: (keyword, value) pairs, so that a table missing an attribute cannot hide it."""
    found = set()
    for element in [*dataset.iterall(), *dataset.file_meta]:
        if element.VR in IDENTIFYING_VRS and element.keyword not in NOT_IDENTIFYING_UIDS and str(element.value):
            found.add((element.keyword, str(element.value)))
    return found


def assert_deidentified(original, written) -> None:
    before, after = values_by_tag(original), values_by_tag(written)
    for tag, values in before.items():
        outcome = outcome_of(tag, pydicom.datadict.keyword_for_tag(tag))
        if outcome:
            assert_outcome(tag, outcome, values, after.get(tag, []))
    assert not any(element.tag.is_private for element in written.iterall())
    kept = identifying_values(original) & identifying_values(written)
    assert not kept, f"names, dates, times or UIDs kept: {sorted(kept)}"
    assert written.PatientIdentityRemoved == "YES"
    assert written.DeidentificationMethod == METHOD
    assert [code.CodeValue for code in written.DeidentificationMethodCodeSequence] == ["113100", "113107"]
    assert written.LongitudinalTemporalInformationModified == "MODIFIED"
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    assert written.PixelData == original.PixelData


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name if hasattr(p, "name") else str(p).rsplit("/", 1)[-1])
def test_every_profile_attribute_of_the_file_is_removed_emptied_or_replaced(path, tmp_path):
    target = tmp_path / "out.dcm"
    Deidentifier().deidentify_file(path, target)
    original = pydicom.dcmread(path)
    assert {0x00100010, 0x00100020, 0x00080020, 0x0020000D} <= set(values_by_tag(original))
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


SECRET_UID_ROOT = "1.2.826.0.1.3680043.9.7777."
FIRST_VR = {"ox": "OB", "xs": "US", "lt": "OW", "up": "UL"}
NESTING = "ProcedureCodeSequence"
"""A sequence the profile keeps: the table's attributes are written in one of its items too."""


def secret_value(vr: str, number: int):
    """A recognisable value of `vr`, different for each `number`."""
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = f"SECRET {number}"
        return [item]
    texts = {"PN": f"Secret^Person{number}", "DA": "19610203", "TM": "101112", "DT": "19610203101112",
             "UI": f"{SECRET_UID_ROOT}{number}", "AS": "042Y", "CS": "SECRET", "DS": "42.5", "IS": "42",
             "AT": 0x00100010, "FL": 42.0, "FD": 42.0}
    if vr in texts:
        return texts[vr]
    if vr in ("US", "SS", "UL", "SL", "UV", "SV"):
        return 42
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return b"SECRET!!"
    return f"SECRET {number}"


def writable(tag: int, vr: str, value) -> bool:
    """Whether pydicom writes and reads back the element (after a Specific Character Set, by which the
    reader recognises the encoding)."""
    dataset = Dataset()
    dataset.SpecificCharacterSet = "ISO_IR 100"
    dataset.add_new(tag, vr, value)
    buffer = BytesIO()
    try:
        pydicom.dcmwrite(buffer, dataset, implicit_vr=False, little_endian=True)
        return tag in pydicom.dcmread(BytesIO(buffer.getvalue()), force=True)
    except Exception:
        return False


def table_elements() -> tuple[dict[int, tuple[str, object]], list[str]]:
    """Every attribute of the table pydicom's dictionary knows and can write, with a recognisable value
    (tag → (VR, value)), and the names of those it cannot: the command group's two (0000,xxxx) are not
    written in a file, and the file meta's one is in the file meta (checked by assert_deidentified)."""
    elements, left_out = {}, []
    for number, (tag, (_, name)) in enumerate(sorted(TABLE.items())):
        try:
            vr = pydicom.datadict.dictionary_VR(tag)
        except KeyError:
            left_out.append(name)
            continue
        vr = FIRST_VR.get(vr, vr.split(" or ")[0])
        value = secret_value(vr, number)
        if tag >> 16 == 0x0002 or not writable(tag, vr, value):
            left_out.append(name)
        else:
            elements[tag] = (vr, value)
    return elements, left_out


def file_with_every_table_attribute(path: Path) -> dict[int, tuple[str, object]]:
    """CT_small.dcm with every writable attribute of the table at the top level and in an item of a kept
    sequence, a private attribute and an overlay in another group; written to `path`."""
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    elements, _ = table_elements()
    nested = Dataset()
    for tag, (vr, value) in elements.items():
        dataset.add_new(tag, vr, value)
        if tag >> 16 not in (0x0000, 0xFFFA, 0xFFFC):  # command, signature and padding: top level only
            nested.add_new(tag, vr, value)
    dataset.add_new(0x60024000, "LT", "SECRET overlay comment")
    dataset.private_block(0x0009, "SECRET CREATOR", create=True).add_new(0x01, "LO", "SECRET private")
    dataset.add_new(NESTING, "SQ", [nested])
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.save_as(path, enforce_file_format=True)
    return elements


def test_the_synthetic_file_holds_every_attribute_of_the_table_pydicom_can_write():
    elements, left_out = table_elements()
    assert len(elements) + len(left_out) == len(TABLE) > 450
    assert left_out == ["Affected SOP Instance UID", "Requested SOP Instance UID", "Media Storage SOP Instance UID"]


@pytest.mark.filterwarnings("ignore:Invalid value .* used with the 'in' operator")  # dicognito looks up
@pytest.mark.django_db  # the time beside each date by a keyword pydicom does not know (LastMenstrualTime...)
def test_every_attribute_of_the_table_is_de_identified_on_the_stored_bytes(
    owner, settings, tmp_path, django_capture_on_commit_callbacks
):
    source = tmp_path / "every-attribute.dcm"
    elements = file_with_every_table_attribute(source)
    settings.VOLUMES_DEIDENTIFY = True
    with django_capture_on_commit_callbacks(execute=True):
        ingest(owner, [source])
    with Instance.objects.get().file.open("rb") as stored:
        stored_bytes = stored.read()
    written = pydicom.dcmread(BytesIO(stored_bytes))
    original = pydicom.dcmread(source)
    assert_deidentified(original, written)
    for tag, (vr, value) in elements.items():
        action, name = TABLE[tag]
        places = [written] + ([written[NESTING].value[0]] if tag in original[NESTING].value[0] else [])
        for place in places:
            outcome = OUTCOMES[action]
            if outcome == "removed" or (outcome == "removed or replaced" and (vr == "SQ" or tag not in place)):
                assert tag not in place, name
                continue
            assert tag in place, f"{name} removed, the profile says {action}"
            after = place[tag].value
            if vr == "SQ" or (outcome == "emptied or replaced" and place[tag].is_empty):
                assert place[tag].is_empty or after == [], f"{name} not emptied"
            else:
                assert not place[tag].is_empty and after != value, f"{name} kept"
        if OUTCOMES[action] == "new UID":
            assert len({str(place[tag].value) for place in places}) == 1, f"{name} remapped two ways"
    assert 0x60024000 not in written and not any(element.tag.is_private for element in written)
    for secret in (b"Secret^Person", SECRET_UID_ROOT.encode(), b"SECRET"):
        assert secret not in stored_bytes
    assert written.Rows == original.Rows and written.PixelSpacing == original.PixelSpacing


def test_times_are_shifted_together_so_time_points_keep_their_order_and_intervals():
    """Acquisition Time (X/Z) and Content Time (Z/D) beside their dates: shifted by the upload's one
    offset rather than removed, so a series split into time points by them stays split the same way."""
    deidentifier = Deidentifier()
    times = []
    for acquired in ("101010", "101510", "102010"):
        dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        dataset.AcquisitionDate = dataset.ContentDate = "20240301"
        dataset.AcquisitionTime = dataset.ContentTime = acquired
        written = deidentifier.deidentify(dataset)
        assert written.AcquisitionTime != acquired and written.AcquisitionDate != "20240301"
        times.append(datetime.datetime.strptime(written.AcquisitionDate + written.AcquisitionTime[:6], "%Y%m%d%H%M%S"))
    assert [later - earlier for earlier, later in zip(times, times[1:])] == [datetime.timedelta(minutes=5)] * 2
