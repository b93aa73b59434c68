from django.shortcuts import get_object_or_404, render

from .models import Product

PAGE = 20


def products(request):
    """The benchmark's page: the first 20 products in stock, by name, each with its category."""
    rows = Product.objects.select_related("category").filter(stock__gt=0).order_by("name")[:PAGE]
    return render(request, "djsite/products.html", {"products": rows, "title": "Products"})


def product(request, pk):
    item = get_object_or_404(Product.objects.select_related("category"), pk=pk)
    return render(request, "djsite/product.html", {"product": item, "title": item.name})
