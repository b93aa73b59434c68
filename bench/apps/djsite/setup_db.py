"""Creates the catalogue's SQLite database from nothing: every migration of
the default project's apps, the catalogue's tables, 5 categories and 50
products (40 in stock).

    ANVIL_BENCH_DB=/tmp/x/db.sqlite3 python3 -m djsite.setup_db
"""

import datetime
import os
import sys
from decimal import Decimal


def main():
    path = os.environ.get("ANVIL_BENCH_DB")
    if not path:
        sys.stderr.write("setup_db: set ANVIL_BENCH_DB to the SQLite file to create\n")
        return 2
    if os.path.exists(path):
        os.unlink(path)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    from djsite.models import Category, Product

    names = ["Notebooks", "Pens", "Ink", "Paper", "Desk"]
    cats = [Category.objects.create(name=n, slug=n.lower()) for n in names]
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    Product.objects.bulk_create([
        Product(sku=f"SKU-{i:04d}", name=f"{names[i % 5].rstrip('s').lower()} model {i:02d}",
                category=cats[i % 5], price=Decimal(f"{3 + (i * 37) % 90}.{(i * 13) % 100:02d}"),
                stock=0 if i % 5 == 4 else (i * 7) % 23 + 1,
                created=start + datetime.timedelta(days=i * 3))
        for i in range(50)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
