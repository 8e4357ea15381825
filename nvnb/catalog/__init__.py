"""The model catalog: the records (:mod:`nvnb.catalog.records`, data in ``models.json``) and
their table view (:mod:`nvnb.catalog.table`)."""

from __future__ import annotations

from nvnb.catalog.records import (
    CAPABILITIES,
    LABEL_NAMES,
    MODEL_TYPES,
    PLAYGROUND_PREFIX,
    STEERLM_LABELS,
    Model,
    check_labels,
    find_model,
    known_models,
    listed_ids,
    load_models,
    merge_listing,
    parse_labels,
    register_model,
    resolve_model,
    suggest,
)
from nvnb.catalog.table import format_table, markdown_table, matching_models, table_rows

__all__ = [
    "CAPABILITIES",
    "LABEL_NAMES",
    "MODEL_TYPES",
    "PLAYGROUND_PREFIX",
    "STEERLM_LABELS",
    "Model",
    "check_labels",
    "find_model",
    "format_table",
    "known_models",
    "listed_ids",
    "load_models",
    "markdown_table",
    "matching_models",
    "merge_listing",
    "parse_labels",
    "register_model",
    "resolve_model",
    "suggest",
    "table_rows",
]
