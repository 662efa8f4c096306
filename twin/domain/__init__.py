"""The project's data model, shared by every stage: documents and their sources, collection
summaries, chunks and hits, dataset versions, training results and model versions.

A stage's data types live here, not in the stage that happens to produce them, so a later
stage (or the registry, the Serve app, the UI) reads them without importing that stage.
"""

from twin.domain.chunks import (
    CHUNK_COLUMNS,
    CHUNK_SCHEMA,
    FILTER_FIELDS,
    MAX_TEXT_BYTES,
    MAX_TITLE_BYTES,
    MAX_URL_BYTES,
    OUTPUT_FIELDS,
    Hit,
    IngestSummary,
    chunk_id,
)
from twin.domain.collection import (
    MISSING_AUTHOR,
    MISSING_DATE,
    MISSING_LISTED,
    CollectionSummary,
    MissingMetadata,
    SourceSummary,
)
from twin.domain.documents import (
    LINK_ORIGIN,
    URL_DROPPED,
    Document,
    Kind,
    Platform,
    Source,
    SourceKind,
    SourceResult,
    canonical_url,
    content_hash,
    document_id,
    is_http_url,
    slugify,
    url_scheme,
)
from twin.domain.models import DatasetResult, ModelVersion, TrainResult

__all__ = [
    "CHUNK_COLUMNS", "CHUNK_SCHEMA", "FILTER_FIELDS", "LINK_ORIGIN", "MAX_TEXT_BYTES",
    "MAX_TITLE_BYTES", "MAX_URL_BYTES", "MISSING_AUTHOR", "MISSING_DATE", "MISSING_LISTED",
    "OUTPUT_FIELDS", "URL_DROPPED", "CollectionSummary", "DatasetResult", "Document", "Hit",
    "IngestSummary", "Kind", "MissingMetadata", "ModelVersion", "Platform", "Source",
    "SourceKind", "SourceResult", "SourceSummary", "TrainResult", "canonical_url", "chunk_id",
    "content_hash", "document_id", "is_http_url", "slugify", "url_scheme",
]
