"""Reading PDFs the way a person would: the text on their pages."""

import io

from pypdf import PdfReader


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def attachment(message, filename_suffix: str = ".pdf"):
    for part in message.iter_attachments():
        if part.get_filename().endswith(filename_suffix):
            return part.get_filename(), part.get_content()
    raise AssertionError(f"no {filename_suffix} attachment in {message['Subject']!r}")
