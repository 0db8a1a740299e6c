"""Marketer pages of CSV imports: list, upload, mapping + preview, progress, error file."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from profiles.imports import (
    DELIMITERS,
    ImportFileError,
    ImportStateError,
    MappingError,
    import_cancel,
    import_configure,
    import_headers,
    import_preview,
    import_progress,
    import_start,
    import_upload,
)
from profiles.imports.forms import ImportDelimiterForm, ImportMappingForm, ImportUploadForm
from profiles.imports.mapping import ROW, target_choices
from profiles.imports.services import topic_refs
from profiles.models import ProfileImport
from profiles.services import attribute_specs

RECENT = 50


@permission_required("profiles.view_profileimport", raise_exception=True)
def import_list(request):
    imports = ProfileImport.objects.select_related("created_by")[:RECENT]
    return render(request, "profiles/import_list.html", {"imports": imports})


@permission_required("profiles.add_profileimport", raise_exception=True)
def import_new(request):
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            profile_import = import_upload(
                file=upload, original_name=upload.name,
                delimiter=form.cleaned_data["delimiter"] or None, user=request.user,
            )
        except ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("import_detail", pk=profile_import.pk)
    return render(request, "profiles/import_new.html", {"form": form})


@permission_required("profiles.view_profileimport", raise_exception=True)
def import_detail(request, pk: int):
    profile_import = get_object_or_404(ProfileImport, pk=pk)
    if profile_import.status == ProfileImport.Status.UPLOADED:
        return _mapping_page(request, profile_import)
    context = {"import": profile_import, "progress": import_progress(profile_import=profile_import)}
    return render(request, "profiles/import_detail.html", context)


def _mapping_page(request, profile_import: ProfileImport):
    if request.method == "POST" and not request.user.has_perm("profiles.add_profileimport"):
        raise PermissionDenied
    if request.method == "POST" and request.POST.get("action") == "delimiter":
        return _change_delimiter(request, profile_import)
    headers = import_headers(profile_import=profile_import)
    choices = target_choices(headers, attribute_specs(), topic_refs(),
                             unknown=settings.PROFILE_UNKNOWN_ATTRIBUTES)
    form = ImportMappingForm(
        request.POST or None, headers=headers, choices=choices,
        initial_mapping=profile_import.mapping, initial={"upsert_key": profile_import.upsert_key},
    )
    preview = None
    if request.method == "POST" and form.is_valid():
        try:
            import_configure(profile_import=profile_import, mapping=form.mapping(),
                             upsert_key=form.cleaned_data["upsert_key"])
            if request.POST.get("action") == "start":
                import_start(profile_import=profile_import, user=request.user)
                messages.success(request, "Import started.")
                return redirect("import_detail", pk=profile_import.pk)
            preview = import_preview(profile_import=profile_import)
        except MappingError as exc:
            form.add_mapping_errors(exc.errors)
    elif request.method != "POST":
        preview = _preview_or_none(profile_import)
    context = {
        "import": profile_import, "form": form, "preview": preview, "row_key": ROW,
        "delimiter_name": DELIMITERS.get(profile_import.delimiter, profile_import.delimiter),
        "delimiter_form": ImportDelimiterForm(initial={"delimiter": profile_import.delimiter}),
    }
    return render(request, "profiles/import_mapping.html", context)


def _preview_or_none(profile_import: ProfileImport):
    try:
        return import_preview(profile_import=profile_import)
    except MappingError:
        return None  # the form shows what to fix once submitted


def _change_delimiter(request, profile_import: ProfileImport):
    form = ImportDelimiterForm(request.POST)
    if form.is_valid():
        try:
            import_configure(profile_import=profile_import,
                             delimiter=form.cleaned_data["delimiter"])
        except ImportFileError as exc:
            messages.error(request, str(exc))
    return redirect("import_detail", pk=profile_import.pk)


@permission_required("profiles.view_profileimport", raise_exception=True)
def import_progress_json(request, pk: int):
    profile_import = get_object_or_404(ProfileImport, pk=pk)
    return JsonResponse(import_progress(profile_import=profile_import))


@require_POST
@permission_required("profiles.add_profileimport", raise_exception=True)
def import_cancel_view(request, pk: int):
    profile_import = get_object_or_404(ProfileImport, pk=pk)
    try:
        import_cancel(profile_import=profile_import)
        messages.success(request, "Cancel requested: the import stops after the current chunk.")
    except ImportStateError as exc:
        messages.error(request, str(exc))
    return redirect("import_detail", pk=pk)


@require_POST
@permission_required("profiles.add_profileimport", raise_exception=True)
def import_restart(request, pk: int):
    profile_import = get_object_or_404(ProfileImport, pk=pk)
    try:
        import_start(profile_import=profile_import, user=request.user)
        messages.success(request, "Import started again (rows already imported are unchanged).")
    except (ImportStateError, MappingError) as exc:
        messages.error(request, str(exc))
    return redirect("import_detail", pk=pk)


@permission_required("profiles.view_profileimport", raise_exception=True)
def import_errors(request, pk: int):
    """The error file, only through this permission-checked view (media is never served)."""
    profile_import = get_object_or_404(ProfileImport, pk=pk)
    if not profile_import.error_file or not profile_import.error_file.storage.exists(
        profile_import.error_file.name
    ):
        raise Http404("This import has no error file.")
    return FileResponse(
        profile_import.error_file.open("rb"), as_attachment=True,
        filename=f"import-{pk}-errors.csv", content_type="text/csv",
    )
