"""A Django 3.2 project as `django-admin startproject` lays it out (its
settings, middleware and context processors), with one app: a product
catalogue in SQLite. The benchmark's page (/products/) renders 20 rows of an
ORM query through a template with a loop. setup_db.py creates the database."""
