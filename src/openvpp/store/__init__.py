"""Adapters to the relational database: tables, repositories, unit of work, migrations."""
