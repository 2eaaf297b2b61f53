"""Invoice PDFs: a real document with the order's lines and total."""

from fpdf import FPDF

from core.money import format_money
from core.times import format_date
from orders.models import Invoice


def invoice_pdf_render(*, invoice: Invoice) -> bytes:
    order = invoice.order
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, f"Invoice {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 7, f"Order #{order.pk} - {format_date(order.created_at)}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, f"Bill to: {order.customer.name} <{order.customer.email}>", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    for text, width in (("Item", 100), ("Qty", 20), ("Unit price", 35), ("Amount", 35)):
        pdf.cell(width, 8, text, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=11)
    for item in order.items.select_related("product").with_amounts().order_by("pk"):
        pdf.cell(100, 8, item.product.name[:50])
        pdf.cell(20, 8, str(item.quantity))
        pdf.cell(35, 8, format_money(item.unit_price))
        pdf.cell(35, 8, format_money(item.amount))
        pdf.ln()
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(155, 10, "Total")
    pdf.cell(35, 10, format_money(order.total))
    return bytes(pdf.output())
