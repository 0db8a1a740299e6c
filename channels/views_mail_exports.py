"""Direct-mail export files: a list and a permission-checked download (never a media URL)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render

from channels.models import MailExport

PAGE_SIZE = 50


@permission_required("channels.view_mailexport", raise_exception=True)
def mail_export_list(request):
    exports = MailExport.objects.order_by("-created_at", "-pk")
    page = Paginator(exports, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "channels/mail_export_list.html", {"page": page})


@permission_required("channels.view_mailexport", raise_exception=True)
def mail_export_download(request, pk: int):
    export = get_object_or_404(MailExport, pk=pk)
    path = _stored_path(export)
    if path is None:
        raise Http404("The export file is missing.")
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=path.name, content_type="text/csv"
    )


def _stored_path(export: MailExport) -> Path | None:
    """The file on disk, only if it lies under MEDIA_ROOT/mail-exports (a name edited in the
    database cannot point the download at another file)."""
    if not export.file.name:
        return None
    root = (Path(settings.MEDIA_ROOT) / settings.MAIL_EXPORT_DIR).resolve()
    path = (Path(settings.MEDIA_ROOT) / export.file.name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path
