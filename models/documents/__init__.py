"""Text out of the files people keep: plain text, Markdown, HTML, PDF, Word, CSV/TSV, e-mail.

    read_document(path) -> Document          one file, its whole text
    read_table(path, text_column, id_column)  each row of a .csv/.tsv as its own document
    find_documents(paths)                     files under folders, recursively, with counts of the rest

Every problem a user can meet (a binary file named .txt, a damaged or password-protected PDF,
an empty file, a file too large, one that vanished or may not be read) raises DocumentError
with a one-line message.
"""
from models.documents.errors import DocumentError
from models.documents.finder import FoundDocuments, find_documents
from models.documents.reader import (
    MAX_DOCUMENT_BYTES, SUPPORTED_SUFFIXES, TABLE_SUFFIXES, Document, read_document,
)
from models.documents.tables import TableRow, guess_text_column, read_table, table_columns

__all__ = [
    "Document", "DocumentError", "FoundDocuments", "MAX_DOCUMENT_BYTES", "SUPPORTED_SUFFIXES",
    "TABLE_SUFFIXES", "TableRow", "find_documents", "guess_text_column", "read_document", "read_table",
    "table_columns",
]
