"""Forms: they read and validate what the user typed; the services do the work."""
from django import forms
from django.conf import settings

from .imaging.thresholds import MODES, InvalidThreshold, ThresholdRequest
from .services.history import HistoryQuery

MODE_LABELS = {
    "normalized": "Normalised: 0 to 1 over the series (the challenge's definition)",
    "modality": "Modality units: e.g. Hounsfield units on CT",
    "otsu": "Automatic: Otsu",
    "triangle": "Automatic: triangle",
    "isodata": "Automatic: IsoData",
    "yen": "Automatic: Yen",
}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.Field):
    """Any number of files. Each is judged by the pipeline, so that one bad file loses nothing else."""

    widget = MultipleFileInput

    def to_python(self, data):
        if not data:
            return []
        return list(data) if isinstance(data, (list, tuple)) else [data]

    def validate(self, value):
        if self.required and not value:
            raise forms.ValidationError("Choose at least one DICOM file, a folder or a .zip archive.", code="required")


class ThresholdForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[(mode, MODE_LABELS[mode]) for mode in MODES], initial="normalized", required=False
    )
    threshold = forms.CharField(
        required=False,
        help_text="Normalised: between 0 and 1 (voxels strictly above count). Modality: in the series' units. "
        "Automatic modes ignore it.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    upper = forms.CharField(
        required=False,
        label="Upper bound (optional)",
        help_text="Makes it a range: voxels above the threshold and at most this (same units). Empty: no upper bound.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    body_only = forms.BooleanField(
        required=False,
        label="Body only: leave out the couch and the air",
        help_text="Counts only the voxels inside the body (its largest connected part, each time point's own in a time series); the first time reads the pixels again.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["threshold"].initial = settings.VOLUMES_THRESHOLD

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["request"] = ThresholdRequest.from_fields(cleaned, settings.VOLUMES_THRESHOLD)
        except InvalidThreshold as error:
            self.add_error(error.field, str(error))
        return cleaned


class UploadForm(ThresholdForm):
    files = MultipleFileField(
        help_text="DICOM files (any name), folders or .zip archives.",
    )
    field_order = ["files", "mode", "threshold", "upper", "body_only"]



class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. the script or machine that uses it.")


class HistoryForm(forms.Form):
    """The history's search and sort (GET): every field optional, a wrong one is ignored with its message."""

    q = forms.CharField(
        required=False, label="Search",
        help_text="Words in the series or study description, a modality, a date (2015-02-06), or the start of a UID.",
    )
    modality = forms.CharField(required=False, label="Modality")
    study_from = forms.DateField(required=False, label="Study date from", widget=forms.DateInput(attrs={"type": "date"}))
    study_to = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(
        required=False, label="Sort by",
        choices=[
            ("newest", "Newest first"), ("oldest", "Oldest first"),
            ("largest", "Largest volume first"), ("smallest", "Smallest volume first"),
        ],
    )

    def query(self) -> HistoryQuery:
        self.is_valid()  # cleaned_data keeps the fields that are valid
        data = self.cleaned_data
        return HistoryQuery(
            text=data.get("q") or "",
            modality=(data.get("modality") or "").strip(),
            study_date_from=data.get("study_from"),
            study_date_to=data.get("study_to"),
            sort=data.get("sort") or "newest",
        )
