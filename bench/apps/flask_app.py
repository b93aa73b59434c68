"""Flask: a JSON API. POST /api/orders with an order as JSON; the app parses
and validates it, prices it, and answers a JSON document of about 2 KB (201 Created),
or 422 with the list of what is wrong.

REQUEST_BODY is the order the benchmark sends (bench/apps/run.py).
"""

import hashlib
import json

from flask import Flask, jsonify, request

app = Flask(__name__)

CURRENCIES = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86}
VAT = 0.2
PAYMENT = ["card", "bank_transfer", "invoice"]
SHIPPING = [
    {"id": "standard", "label": "Standard (3-5 working days)", "price": 4.9},
    {"id": "express", "label": "Express (next working day)", "price": 12.5},
    {"id": "pickup", "label": "Pick-up point (2-4 working days)", "price": 2.9},
]

REQUEST_BODY = json.dumps({
    "customer": {"id": 48213, "name": "Ada Lovelace", "email": "ada@example.org",
                 "address": {"street": "12 St James's Square", "city": "London",
                             "postcode": "SW1Y 4JH", "country": "GB"}},
    "currency": "EUR",
    "coupon": "SPRING10",
    "items": [
        {"sku": "BK-0042", "name": "Notes on the Analytical Engine", "quantity": 1, "price": 24.0},
        {"sku": "PN-1815", "name": "Fountain pen", "quantity": 2, "price": 35.5},
        {"sku": "NB-0001", "name": "Squared notebook, A5", "quantity": 5, "price": 4.25},
        {"sku": "IN-0202", "name": "Ink, blue-black, 50 ml", "quantity": 3, "price": 7.9},
        {"sku": "RL-0300", "name": "Steel ruler, 30 cm", "quantity": 1, "price": 6.4},
        {"sku": "PC-0007", "name": "Pencil case, leather", "quantity": 1, "price": 18.0},
    ],
}, separators=(",", ":")).encode()


def validate(order):
    """The problems with an order, as a list of strings (empty: valid)."""
    errors = []
    if not isinstance(order, dict):
        return ["the body must be a JSON object"]
    customer = order.get("customer")
    if not isinstance(customer, dict):
        errors.append("customer: an object is required")
    else:
        if not isinstance(customer.get("id"), int) or customer["id"] <= 0:
            errors.append("customer.id: a positive integer is required")
        email = customer.get("email")
        if not isinstance(email, str) or "@" not in email or len(email) > 254:
            errors.append("customer.email: an address is required")
        if not isinstance(customer.get("name"), str) or not customer["name"].strip():
            errors.append("customer.name: required")
    if order.get("currency") not in CURRENCIES:
        errors.append(f"currency: one of {', '.join(sorted(CURRENCIES))}")
    items = order.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= 50:
        errors.append("items: a list of 1 to 50 items is required")
        return errors
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(f"items[{i}]: an object is required")
            continue
        if not isinstance(item.get("sku"), str) or not item["sku"]:
            errors.append(f"items[{i}].sku: required")
        q = item.get("quantity")
        if not isinstance(q, int) or not 1 <= q <= 100:
            errors.append(f"items[{i}].quantity: an integer from 1 to 100")
        p = item.get("price")
        if not isinstance(p, (int, float)) or p < 0:
            errors.append(f"items[{i}].price: a non-negative number")
    return errors


@app.post("/api/orders")
def create_order():
    order = request.get_json(silent=True)
    errors = validate(order)
    if errors:
        return jsonify({"status": "invalid", "errors": errors}), 422
    rate = CURRENCIES[order["currency"]]
    lines = []
    for item in order["items"]:
        unit = round(item["price"] * rate, 2)
        lines.append({"sku": item["sku"], "name": item.get("name", ""),
                      "quantity": item["quantity"], "unit_price": unit,
                      "line_total": round(unit * item["quantity"], 2),
                      "vat": round(unit * item["quantity"] * VAT, 2),
                      "availability": "in stock", "ships_from": "Warehouse 3, Rotterdam",
                      "tax_class": "standard"})
    subtotal = round(sum(line["line_total"] for line in lines), 2)
    discount = round(subtotal * 0.1, 2) if order.get("coupon") == "SPRING10" else 0.0
    vat = round((subtotal - discount) * VAT, 2)
    digest = hashlib.sha256(request.get_data()).hexdigest()
    return jsonify({
        "status": "accepted",
        "order_id": f"ord_{digest[:20]}",
        "customer": order["customer"],
        "currency": order["currency"],
        "lines": lines,
        "totals": {"items": len(lines), "units": sum(i["quantity"] for i in order["items"]),
                   "subtotal": subtotal, "discount": discount, "vat": vat,
                   "total": round(subtotal - discount + vat, 2)},
        "shipping_options": SHIPPING,
        "payment_methods": PAYMENT,
        "links": {"self": f"/api/orders/ord_{digest[:20]}",
                  "payment": f"/api/orders/ord_{digest[:20]}/payment",
                  "invoice": f"/api/orders/ord_{digest[:20]}/invoice.pdf"},
    }), 201
