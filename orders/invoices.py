"""Invoice PDFs: a real document with the order's lines and total, in fonts that cover every customer's name."""

import functools
import logging
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF

from core.money import format_money
from core.times import format_date
from orders.models import Invoice

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
# DejaVu Sans covers Latin, Greek, Cyrillic, Arabic, Hebrew and more; Droid Sans Fallback adds Chinese,
# Japanese and Korean. PDF's built-in Helvetica knows Latin-1 only and refuses a name like "Łukasz".
FONT = "DejaVu"
CJK_FALLBACK_FONT = "DroidFallback"
# fontTools logs every table of every font it subsets at INFO: dozens of lines per invoice in the worker's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)


def invoice_pdf_render(*, invoice: Invoice) -> bytes:
    order = invoice.order
    items = list(order.items.select_related("product").with_amounts().order_by("pk"))
    pdf = _unicode_pdf(texts=[order.customer.name, order.customer.email, *(item.product.name for item in items)])
    pdf.add_page()
    pdf.set_font(FONT, "B", 18)
    pdf.cell(0, 12, f"Invoice {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=11)
    pdf.cell(0, 7, f"Order #{order.pk} - {format_date(order.created_at)}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, f"Bill to: {order.customer.name} <{order.customer.email}>", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FONT, "B", 11)
    for text, width in (("Item", 100), ("Qty", 20), ("Unit price", 35), ("Amount", 35)):
        pdf.cell(width, 8, text, border="B")
    pdf.ln()
    pdf.set_font(FONT, size=11)
    for item in items:
        pdf.cell(100, 8, item.product.name[:50])
        pdf.cell(20, 8, str(item.quantity))
        pdf.cell(35, 8, format_money(item.unit_price))
        pdf.cell(35, 8, format_money(item.amount))
        pdf.ln()
    pdf.set_font(FONT, "B", 12)
    pdf.cell(155, 10, "Total")
    pdf.cell(35, 10, format_money(order.total))
    return bytes(pdf.output())


def _unicode_pdf(*, texts: list[str]) -> FPDF:
    pdf = FPDF()
    pdf.add_font(FONT, "", FONTS_DIR / "DejaVuSans.ttf")
    pdf.add_font(FONT, "B", FONTS_DIR / "DejaVuSans-Bold.ttf")
    # Loading the 3.4 MB fallback costs about 0.8 s per PDF, so only documents that need it load it.
    if any(ord(char) not in _primary_font_characters() for text in texts for char in text):
        pdf.add_font(CJK_FALLBACK_FONT, "", FONTS_DIR / "DroidSansFallback.ttf")
        # The fallback has no bold face: bold CJK is set in its regular weight rather than not at all.
        pdf.set_fallback_fonts([CJK_FALLBACK_FONT], exact_match=False)
    # HarfBuzz joins Arabic letters and lays right-to-left names out right to left.
    pdf.set_text_shaping(True)
    return pdf


@functools.cache
def _primary_font_characters() -> frozenset[int]:
    return frozenset(TTFont(FONTS_DIR / "DejaVuSans.ttf", lazy=True).getBestCmap())
