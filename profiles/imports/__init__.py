"""CSV import of profiles: reading (file checks, records), mapping (targets, row cleaner),
loading (COPY + set-based upsert) and services (the import's life, called by the UI, the
API, the management command and the RQ job in profiles.import_jobs)."""

from profiles.imports.mapping import MappingError
from profiles.imports.reading import DELIMITERS, ImportFileError
from profiles.imports.services import (
    ImportStateError,
    PreviewRow,
    import_cancel,
    import_configure,
    import_fail_stranded,
    import_headers,
    import_plan,
    import_preview,
    import_progress,
    import_run,
    import_start,
    import_upload,
)

__all__ = [
    "DELIMITERS", "ImportFileError", "ImportStateError", "MappingError", "PreviewRow",
    "import_cancel", "import_configure", "import_fail_stranded", "import_headers",
    "import_plan", "import_preview", "import_progress", "import_run", "import_start",
    "import_upload",
]
