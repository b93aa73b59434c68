"""Falcon 3: a small JSON route with a query string. GET /items?category=..&
min_price=..&sort=..&limit=..&offset=.. filters and pages a list of 100
items held in memory; a bad parameter is a 400 (Falcon's own validation).

Debian's Falcon is compiled with Cython for CPython; PyPy runs its Python
sources.
"""

import falcon

CATEGORIES = ["books", "pens", "paper", "ink", "desk"]
ITEMS = [{"id": i, "name": f"item {i:03d}", "category": CATEGORIES[i % 5],
          "price": round(2 + (i * 37 % 97) + (i % 10) / 10, 2), "stock": i * 7 % 23}
         for i in range(100)]
SORTS = {"price": lambda it: (it["price"], it["id"]), "name": lambda it: it["name"],
         "stock": lambda it: (-it["stock"], it["id"])}


class Items:
    def on_get(self, req, resp):
        category = req.get_param("category")
        if category is not None and category not in CATEGORIES:
            raise falcon.HTTPInvalidParam("unknown category", "category")
        min_price = req.get_param_as_float("min_price", default=0.0, min_value=0.0)
        sort = req.get_param("sort", default="price")
        if sort not in SORTS:
            raise falcon.HTTPInvalidParam(f"one of {', '.join(SORTS)}", "sort")
        limit = req.get_param_as_int("limit", default=10, min_value=1, max_value=50)
        offset = req.get_param_as_int("offset", default=0, min_value=0)
        rows = [it for it in ITEMS
                if (category is None or it["category"] == category) and it["price"] >= min_price]
        rows.sort(key=SORTS[sort])
        resp.media = {"total": len(rows), "offset": offset, "limit": limit,
                      "items": rows[offset:offset + limit]}


app = falcon.App()
app.add_route("/items", Items())
