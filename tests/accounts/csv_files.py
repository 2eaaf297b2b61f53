"""Contact CSV files built in memory, for the accounts and integration tests."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile


def contacts_csv(rows, header=("email", "name", "company", "phone"), encoding="utf-8") -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode(encoding)


def generated_rows(count: int, *, start: int = 0) -> list[tuple[str, str, str, str]]:
    return [
        (f"person{n}@example.com", f"Person {n}", f"Company {n % 97}", f"+49 30 {n:07d}")
        for n in range(start, start + count)
    ]


def upload(content: bytes, name: str = "contacts.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")
