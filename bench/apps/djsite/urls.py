from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("products/", views.products, name="products"),
    path("products/<int:pk>/", views.product, name="product"),
]
